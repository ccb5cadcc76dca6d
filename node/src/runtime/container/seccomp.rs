//! The default seccomp filter: the system calls a container is refused (`EPERM`), as
//! Docker's and containerd's default profiles refuse them to unprivileged containers:
//! loading kernel code, rebooting, changing the clock, swapping, kernel keyrings, BPF and
//! performance counters, raw I/O ports, and other kernels' ABIs. Everything else is
//! allowed (the default profiles are allow-lists; this one is the deny-list part of them,
//! which is what keeps a container from reaching the host's kernel state).

use oci_spec::runtime::Arch;

/// Refused system calls.
pub const DENIED: [&str; 34] = [
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "uselib",
];

/// The architectures the filter covers on this machine (its own and the 32-bit ABIs it
/// can also run, so they cannot be used to go around it).
pub fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}
