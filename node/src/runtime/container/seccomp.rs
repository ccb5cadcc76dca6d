//! The default seccomp filter: the system calls a container is refused (`EPERM`), as
//! Docker's and containerd's default profiles refuse them to unprivileged containers:
//! loading kernel code, rebooting, changing the clock, swapping, kernel keyrings, BPF and
//! performance counters, raw I/O ports, io_uring, userfaultfd and other kernels' ABIs;
//! and, unless the container holds `CAP_SYS_ADMIN`, making or entering namespaces
//! (`unshare`, `setns`, `clone` with a namespace flag) and mounting. Everything else is
//! allowed: the default profiles are allow-lists, and this is the part of them that keeps
//! a container from the host's kernel state (user namespaces above all, which need no
//! capability and open the kernel's namespaced-root code to the container).

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

/// Refused system calls.
pub const DENIED: [&str; 44] = [
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
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "sysfs",
    "uselib",
    "userfaultfd",
    "vm86",
    "vm86old",
    "ustat",
];

/// Refused unless the container holds `CAP_SYS_ADMIN` (the kernel checks it for most of
/// them, but not for a new user namespace, inside which the caller holds every
/// capability).
pub const NEED_SYS_ADMIN: [&str; 12] = [
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "setns",
    "umount",
    "umount2",
    "unshare",
];

/// `clone` flags that make a namespace (mount, cgroup, UTS, IPC, user, pid, network).
const CLONE_NAMESPACES: [u64; 7] = [
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The filter for a container with capabilities `caps` (a privileged container gets
/// none: the caller leaves it out).
pub fn filter(caps: &HashSet<Capability>) -> Result<LinuxSeccomp, String> {
    let oci = |e: oci_spec::OciSpecError| format!("building the seccomp filter: {e}");
    let rule = |names: &[&str], errno: u32| {
        LinuxSyscallBuilder::default()
            .names(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno)
            .build()
    };
    let mut rules: Vec<LinuxSyscall> = vec![rule(&DENIED, EPERM).map_err(oci)?];
    if !caps.contains(&Capability::SysAdmin) {
        rules.push(rule(&NEED_SYS_ADMIN, EPERM).map_err(oci)?);
        // clone3 passes its flags in memory, out of a filter's reach: it is made to look
        // missing, so C libraries fall back to clone, whose flags the rules below see.
        rules.push(rule(&["clone3"], ENOSYS).map_err(oci)?);
        for flag in CLONE_NAMESPACES {
            let arg = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(flag)
                .value_two(flag)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .map_err(oci)?;
            let mut clone = rule(&["clone"], EPERM).map_err(oci)?;
            clone.set_args(Some(vec![arg]));
            rules.push(clone);
        }
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(architectures())
        .syscalls(rules)
        .build()
        .map_err(oci)
}

/// The architectures the filter covers on this machine (its own and the 32-bit ABIs it
/// can also run, so they cannot be used to go around it).
pub fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(f: &LinuxSeccomp, name: &str) -> Vec<(u32, bool)> {
        f.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .map(|r| (r.errno_ret().unwrap_or(0), r.args().is_some()))
            .collect()
    }

    #[test]
    fn namespaces_and_mounts_are_refused_without_sys_admin() {
        let none = filter(&HashSet::new()).unwrap();
        assert_eq!(refused(&none, "unshare"), [(EPERM, false)]);
        assert_eq!(refused(&none, "clone3"), [(ENOSYS, false)]);
        // One rule per namespace flag, each refusing clone only with that flag set.
        assert_eq!(refused(&none, "clone"), [(EPERM, true); 7]);
        assert_eq!(refused(&none, "bpf"), [(EPERM, false)]);

        let admin = filter(&HashSet::from([Capability::SysAdmin])).unwrap();
        for name in ["unshare", "clone", "clone3", "mount", "setns"] {
            assert!(refused(&admin, name).is_empty(), "{name}");
        }
        assert_eq!(refused(&admin, "bpf"), [(EPERM, false)]);
    }

    #[test]
    fn the_lists_hold_each_name_once() {
        let mut all: Vec<&str> = DENIED.iter().chain(&NEED_SYS_ADMIN).copied().collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
