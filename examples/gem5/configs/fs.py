# Full-system X86 Linux on gem5 v24's standard library, as the example's manifests run it: the
# kernel made by build-fs-resources.sh boots once to a checkpoint (fs-boot.yaml), and every point
# of a sweep restores that checkpoint and runs a job in the booted system (restore-sweep.yaml).
#
#   boot:     gem5.opt --outdir=/out/m5out /configs/fs.py boot --mem 64MiB
#   restore:  gem5.opt --outdir=/out/m5out /configs/fs.py restore --mem 64MiB --checkpoint /cpt \
#                 --job /resources/chase --cpu o3 --l1d 16KiB
#
# The guest's /init (guest/init.c) runs what gem5 hands it as the "readfile". The boot hands it
# the word "checkpoint": init asks for a checkpoint, which this script saves as m5out/cpt.TICK
# before ending the simulation. A restore hands it a program (the job): the restored guest goes on
# right after its checkpoint request, reads the new readfile and runs it.
#
# Both build the same board, because a checkpoint names every object it holds state for: one
# core that starts as gem5's atomic CPU and can be switched to a detailed one, no caches for the
# boot (the cheapest), the same memory size and clock. A restore adds caches (they hold no state in
# the checkpoint) and runs on the atomic CPU until the job marks its region of interest (m5
# workbegin): then the detailed CPU takes over and the statistics are reset; at m5 workend they
# are dumped and the simulation ends there, so the last dump in stats.txt is the region's.
#
# A kernel panic in the guest ends the simulation, as gem5 does on Arm and RISC-V (its
# KERNEL_PANIC exit event; its X86 workload has none): this script looks at the console every
# 100 us of simulated time. gem5 then exits 0, as after its own kernel-panic exit, and the
# manifest's fail_on judges the run from the console line. (panic=-1 would not do: the reboot it
# asks for ends in gem5 v24's i8042 model, which aborts gem5 on a "System reset" command.)
import argparse
import sys
from pathlib import Path

import m5
from gem5.components.boards.x86_board import X86Board
from gem5.components.cachehierarchies.classic.no_cache import NoCache
from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (
    PrivateL1PrivateL2CacheHierarchy,
)
from gem5.components.memory.single_channel import SingleChannelDDR4_2400
from gem5.components.processors.cpu_types import CPUTypes
from gem5.components.processors.simple_switchable_processor import SimpleSwitchableProcessor
from gem5.isas import ISA
from gem5.resources.resource import DiskImageResource, KernelResource
from gem5.simulate.exit_event import ExitEvent
from gem5.simulate.simulator import Simulator

DETAILED = {"timing": CPUTypes.TIMING, "minor": CPUTypes.MINOR, "o3": CPUTypes.O3}

parser = argparse.ArgumentParser(description="full-system boot to a checkpoint, or a restore that runs a job")
parser.add_argument("mode", choices=["boot", "restore"])
parser.add_argument("--kernel", default="/resources/vmlinux")
parser.add_argument("--disk", default="/resources/disk.img", help="any file: the X86Board wants an IDE disk")
parser.add_argument("--mem", default="64MiB", help="the same for the boot and its restores")
parser.add_argument("--clk", default="3GHz", help="the same for the boot and its restores")
parser.add_argument("--cpu", choices=sorted(DETAILED), default="timing", help="the region of interest's detailed CPU")
parser.add_argument("--l1d", default="32KiB", help="restore: L1 data cache size")
parser.add_argument("--l1i", default="32KiB", help="restore: L1 instruction cache size")
parser.add_argument("--l2", default="256KiB", help="restore: L2 cache size")
parser.add_argument("--checkpoint", type=Path, help="restore: the checkpoint folder (m5out/cpt.TICK of a boot)")
parser.add_argument("--job", type=Path, help="restore: the program the restored guest runs (its readfile)")
parser.add_argument("--rdinit", default="/init", help="boot: the initramfs program the kernel starts")
parser.add_argument("--kernel-arg", action="append", default=[], help="boot: one more kernel argument (repeatable)")
args = parser.parse_args()
restore = args.mode == "restore"
if restore and not (args.checkpoint and args.job):
    parser.error("restore needs --checkpoint and --job")

processor = SimpleSwitchableProcessor(
    starting_core_type=CPUTypes.ATOMIC, switch_core_type=DETAILED[args.cpu], num_cores=1, isa=ISA.X86
)
if restore:
    caches = PrivateL1PrivateL2CacheHierarchy(l1d_size=args.l1d, l1i_size=args.l1i, l2_size=args.l2)
else:
    caches = NoCache()
board = X86Board(
    clk_freq=args.clk,
    processor=processor,
    memory=SingleChannelDDR4_2400(size=args.mem),
    cache_hierarchy=caches,
)

# The kernel's busy calibrations are skipped, each worth ~1e8 simulated instructions: lpj= (the
# delay loop: one jiffy at HZ=100), tsc_early_khz= (gem5's TSC counts core cycles, so it must be
# the clock), noapictimer (the local APIC timer's calibration; the PIT is the tick), no_timer_check.
# nohz=off highres=off keep the PIT periodic: gem5 v24's i8254 panics on one-shot mode 4.
# rodata=off skips making the kernel's text read-only and freeing the gaps around it, which costs
# ~20% of a boot and protects nothing here.
khz = int(m5.util.convert.toFrequency(args.clk) / 1000)
kernel_args = [
    "earlyprintk=ttyS0",
    "console=ttyS0",
    f"lpj={khz * 10}",
    f"tsc_early_khz={khz}",
    "tsc=reliable",
    "noapictimer",
    "no_timer_check",
    "nohz=off",
    "highres=off",
    "mitigations=off",
    "rodata=off",
    f"rdinit={args.rdinit}",
    *args.kernel_arg,
]

board.set_kernel_disk_workload(
    kernel=KernelResource(local_path=args.kernel),
    disk_image=DiskImageResource(local_path=str(args.disk), root_partition=None),
    readfile=str(args.job) if restore else None,
    readfile_contents=None if restore else "checkpoint",
    kernel_args=kernel_args,
    checkpoint=args.checkpoint if restore else None,
)

ended = {"checkpoint": None, "region": False, "panic": None}
CONSOLE = Path(m5.options.outdir) / "board.pc.com_1.device"
WATCH_TICKS = 100_000_000  # 100 us simulated: ~300 k instructions, seconds of host time at -O0


def watch_console():
    looks = 0
    while True:
        text = CONSOLE.read_bytes() if CONSOLE.exists() else b""
        at = text.find(b"Kernel panic")
        if at >= 0:
            # The guest prints a panic character by character: let it finish (its last line is
            # "---[ end Kernel panic ... ]---"), for at most 50 more looks, before ending here.
            end = text.find(b"---[ end Kernel panic", at)
            if (end >= 0 and text.find(b"\n", end) >= 0) or looks >= 50:
                ended["panic"] = text[at:].split(b"\n", 1)[0].decode(errors="replace").strip()
                print(f"fs.py: the guest's kernel panicked at tick {m5.curTick()}: {ended['panic']}", flush=True)
                yield True
                continue
            looks += 1
        m5.scheduleTickExitFromCurrent(WATCH_TICKS)
        yield False


def on_checkpoint():
    while True:
        if restore:  # the job asked for one: not this run's business
            yield False
            continue
        folder = Path(m5.options.outdir) / f"cpt.{m5.curTick()}"
        print(f"fs.py: checkpoint at tick {m5.curTick()} -> {folder}", flush=True)
        m5.checkpoint(str(folder))
        ended["checkpoint"] = folder
        yield True


def on_workbegin():
    while True:
        print(f"fs.py: region of interest begins at tick {m5.curTick()}: switching to the {args.cpu} CPU", flush=True)
        processor.switch()
        m5.stats.reset()
        yield False


def on_workend():
    while True:
        print(f"fs.py: region of interest ends at tick {m5.curTick()}: statistics dumped", flush=True)
        m5.stats.dump()
        ended["region"] = True
        yield True


simulator = Simulator(
    board=board,
    on_exit_event={
        ExitEvent.CHECKPOINT: on_checkpoint(),
        ExitEvent.WORKBEGIN: on_workbegin(),
        ExitEvent.WORKEND: on_workend(),
        ExitEvent.SCHEDULED_TICK: watch_console(),
    },
)
simulator._instantiate()  # so that the first look at the console can be scheduled
m5.scheduleTickExitFromCurrent(WATCH_TICKS)
simulator.run()
cause, code = simulator.get_last_exit_event_cause(), simulator.get_last_exit_event_code()
print(f"fs.py: exit at tick {simulator.get_current_tick()}: {cause} (code {code})", flush=True)
if ended["panic"]:
    sys.exit(0)  # as gem5 after its kernel-panic exit: fail_on on the console decides
if not restore and ended["checkpoint"] is None:
    print(f"fs.py: the boot ended without a checkpoint: {cause}", file=sys.stderr)
    sys.exit(code or 1)
if restore and not ended["region"]:
    print(f"fs.py: the job ended without a region of interest: {cause} (code {code})", file=sys.stderr)
    sys.exit(code or 1)
sys.exit(0)
