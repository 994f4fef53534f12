# Full-system boot of Linux on an X86 board, from a kernel and a disk image that the manifest
# mounts read-only at /resources. The disk image's init reads the "readfile" and runs it:
# here `m5 exit`, so the simulation ends once the system has booted.
import argparse

from gem5.components.boards.x86_board import X86Board
from gem5.components.cachehierarchies.classic.private_l1_private_l2_cache_hierarchy import (
    PrivateL1PrivateL2CacheHierarchy,
)
from gem5.components.memory.single_channel import SingleChannelDDR4_2400
from gem5.components.processors.cpu_types import CPUTypes
from gem5.components.processors.simple_processor import SimpleProcessor
from gem5.isas import ISA
from gem5.resources.resource import DiskImageResource, KernelResource
from gem5.simulate.simulator import Simulator

parser = argparse.ArgumentParser(description="full-system boot")
parser.add_argument("--cores", type=int, default=1)
parser.add_argument("--kernel", default="/resources/vmlinux")
parser.add_argument("--disk", default="/resources/disk.img")
parser.add_argument("--root-partition", default="1")
args = parser.parse_args()

board = X86Board(
    clk_freq="3GHz",
    processor=SimpleProcessor(cpu_type=CPUTypes.ATOMIC, isa=ISA.X86, num_cores=args.cores),
    memory=SingleChannelDDR4_2400(size="3GiB"),
    cache_hierarchy=PrivateL1PrivateL2CacheHierarchy(l1d_size="32KiB", l1i_size="32KiB", l2_size="512KiB"),
)
board.set_kernel_disk_workload(
    kernel=KernelResource(local_path=args.kernel),
    disk_image=DiskImageResource(local_path=args.disk, root_partition=args.root_partition),
    readfile_contents="m5 exit\n",
)
Simulator(board=board).run()
