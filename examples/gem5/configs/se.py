# SE-mode run of one program on a one-core X86 system, for the CPU-model x cache-size sweep.
# Run inside the gem5 image:
#   gem5.opt --outdir=/out/m5out /configs/se.py --cpu timing --l1d 32KiB --binary /workloads/chase
# gem5 itself exits 0 whatever the simulated program returns: this script exits with the
# program's exit code, so a failing workload is a failed run.
import argparse
import sys

import m5
from gem5.components.boards.simple_board import SimpleBoard
from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (
    PrivateL1PrivateL2CacheHierarchy,
)
from gem5.components.memory.single_channel import SingleChannelDDR4_2400
from gem5.components.processors.cpu_types import CPUTypes
from gem5.components.processors.simple_processor import SimpleProcessor
from gem5.isas import ISA
from gem5.resources.resource import BinaryResource
from gem5.simulate.simulator import Simulator

CPUS = {"atomic": CPUTypes.ATOMIC, "timing": CPUTypes.TIMING, "minor": CPUTypes.MINOR, "o3": CPUTypes.O3}

parser = argparse.ArgumentParser(description="SE-mode cache sweep point")
parser.add_argument("--cpu", choices=sorted(CPUS), default="timing")
parser.add_argument("--l1d", default="32KiB", help="L1 data cache size")
parser.add_argument("--l2", default="256KiB", help="L2 cache size")
parser.add_argument(
    "--binary",
    default="/gem5/tests/test-progs/hello/bin/x86/linux/hello",
    help="a static X86 binary (default: gem5's hello)",
)
parser.add_argument("--arg", action="append", default=[], help="an argument for the binary (repeatable)")
parser.add_argument("--dump-every", type=int, default=0, metavar="TICKS", help="also dump statistics every TICKS ticks")
args = parser.parse_args()

board = SimpleBoard(
    clk_freq="3GHz",
    processor=SimpleProcessor(cpu_type=CPUS[args.cpu], isa=ISA.X86, num_cores=1),
    memory=SingleChannelDDR4_2400(size="1GiB"),
    cache_hierarchy=PrivateL1PrivateL2CacheHierarchy(l1d_size=args.l1d, l1i_size="32KiB", l2_size=args.l2),
)
board.set_se_binary_workload(BinaryResource(local_path=args.binary), arguments=args.arg)
simulator = Simulator(board=board)
if args.dump_every:
    m5.stats.periodicStatDump(args.dump_every)
simulator.run()
code = simulator.get_last_exit_event_code()
print(f"se.py: {args.binary} exited with code {code}", file=sys.stderr)
sys.exit(code)
