//! A container's `config.json` (the OCI runtime spec runc reads), built from the image's
//! config and the pod spec as the kubelet and containerd build it:
//!
//! - argv: `command` replaces the image's Entrypoint and `args` its Cmd; with neither,
//!   Entrypoint + Cmd; nothing at all is an error the user sees;
//! - env: the image's, then the container's (a later name wins); `workingDir` over the
//!   image's; the user from `runAsUser`/`runAsGroup`, else the image's `USER` (names looked
//!   up in the image's `/etc/passwd` and `/etc/group`);
//! - namespaces: new pid, mount and cgroup namespaces; the pod's network, IPC and UTS
//!   namespaces, which its containers share; volumes and the pod's `/etc/hosts`, `/etc/hostname` and
//!   `/etc/resolv.conf` as bind mounts;
//! - limits: CPU quota from `limits.cpu` (100 ms period), shares from `requests.cpu`,
//!   the memory limit, a pids limit;
//! - a default security profile: the container runtimes' default capability set,
//!   `noNewPrivileges`, masked and read-only kernel paths, and a seccomp filter that
//!   refuses the system calls containers have no business making (where runc has
//!   seccomp); `privileged: true` lifts all of it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder,
    Mount as OciMount, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder,
    RootBuilder, Spec, UserBuilder,
};

use super::super::{Limits, Mount, Security};
use super::namespaces::PodNamespaces;
use super::seccomp;

/// The period CPU quotas are counted over (CFS' default), in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// The capabilities a container keeps by default (containerd's and Docker's set).
const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Everything one container's bundle is made from.
pub struct BundleSpec<'a> {
    pub image: Option<&'a ImageConfig>,
    pub command: &'a [String],
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub working_dir: Option<&'a str>,
    pub mounts: &'a [Mount],
    pub limits: &'a Limits,
    pub security: &'a Security,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    pub hostname: &'a str,
    /// The pod's network namespace (`None`: the host's, for `hostNetwork`).
    pub netns: Option<&'a Path>,
    /// The pod's shared IPC and UTS namespaces (else the container gets its own).
    pub shared: Option<&'a PodNamespaces>,
    pub cgroups_path: String,
    pub pids_limit: Option<i64>,
    /// Whether runc can load seccomp filters here.
    pub seccomp: bool,
}

/// The argv Kubernetes runs for a container of an image.
pub fn argv(
    image: Option<&ImageConfig>,
    command: &[String],
    args: &[String],
) -> Result<Vec<String>, String> {
    let entrypoint = image
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let cmd = image.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let argv: Vec<String> = match (command.is_empty(), args.is_empty()) {
        (false, _) => command.iter().chain(args).cloned().collect(),
        (true, false) => entrypoint.into_iter().chain(args.iter().cloned()).collect(),
        (true, true) => entrypoint.into_iter().chain(cmd).collect(),
    };
    if argv.is_empty() {
        return Err(
            "no command specified: the image has no Entrypoint or Cmd; set the container's `command`"
                .into(),
        );
    }
    Ok(argv)
}

/// `NAME=value` pairs: the image's, then `env` (a later name replaces an earlier one).
pub fn environment(image: Option<&ImageConfig>, env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let image_env = image.and_then(|c| c.env().clone()).unwrap_or_default();
    let pairs = image_env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .chain(env.iter().cloned());
    for (k, v) in pairs {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.insert(
            0,
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
        );
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Looks `name` up in an `/etc/passwd` or `/etc/group` style file: its id (third field)
/// and, for passwd, the primary group (fourth).
fn lookup(rootfs: &Path, file: &str, name: &str) -> Option<(u32, Option<u32>)> {
    let text = read_in_root(rootfs, file)?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name)).then(|| {
            let id = f.get(2)?.parse().ok()?;
            Some((id, f.get(3).and_then(|g| g.parse().ok())))
        })?
    })
}

/// Whether [`user`] reads the image's files for `image_user`, so needs its root mounted.
pub fn user_reads_rootfs(image_user: &str) -> bool {
    !image_user.is_empty()
}

const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";
/// Larger account files are not read (they are the image's, not the agent's, to size).
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// Reads the regular file at `rel` as the container would see it: symbolic links resolve
/// inside `root` (an image's `/etc/passwd -> /host/file` must not read the host's), and a
/// FIFO or device there is not opened for reading (it could block the agent).
fn read_in_root(root: &Path, rel: &str) -> Option<String> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    use std::io::Read;
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_ACCOUNT_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The uid and gid the process runs as.
pub fn user(rootfs: &Path, image_user: &str, sec: &Security) -> Result<(u32, u32), String> {
    let (u, g) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let (mut uid, mut gid) = (0u32, 0u32);
    if !u.is_empty() {
        if let Ok(n) = u.parse() {
            uid = n;
            gid = lookup_by_id(rootfs, PASSWD, n).unwrap_or(0);
        } else {
            let (id, primary) = lookup(rootfs, PASSWD, u)
                .ok_or_else(|| format!("the image's USER {u:?} is not in its /etc/passwd"))?;
            uid = id;
            gid = primary.unwrap_or(0);
        }
    }
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse() {
            Ok(n) => n,
            Err(_) => {
                lookup(rootfs, GROUP, g)
                    .ok_or_else(|| format!("the image's group {g:?} is not in its /etc/group"))?
                    .0
            }
        };
    }
    let uid = sec.run_as_user.unwrap_or(uid);
    let gid = sec.run_as_group.unwrap_or(gid);
    if sec.run_as_non_root && uid == 0 {
        return Err(
            "runAsNonRoot is set but the container would run as root (uid 0); set runAsUser or use an image with a non-root USER"
                .into(),
        );
    }
    Ok((uid, gid))
}

/// The primary group of the user with id `uid` in a passwd file.
fn lookup_by_id(rootfs: &Path, file: &str, uid: u32) -> Option<u32> {
    let text = read_in_root(rootfs, file)?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)?.parse::<u32>().ok()? == uid).then(|| f.get(3)?.parse().ok())?
    })
}

fn capability(name: &str) -> Result<Capability, String> {
    let full = format!(
        "CAP_{}",
        name.trim_start_matches("CAP_").to_ascii_uppercase()
    );
    serde_json::from_value(serde_json::Value::String(full.clone()))
        .map_err(|_| format!("{name:?} is not a Linux capability"))
}

/// The capabilities the process keeps.
fn capabilities(sec: &Security) -> Result<HashSet<Capability>, String> {
    if sec.privileged {
        return ALL_CAPABILITIES.iter().map(|c| capability(c)).collect();
    }
    let mut set: HashSet<Capability> = HashSet::new();
    let drop_all = sec.drop_capabilities.iter().any(|d| d == "ALL");
    if !drop_all {
        for c in DEFAULT_CAPABILITIES {
            set.insert(capability(c)?);
        }
    }
    for d in sec.drop_capabilities.iter().filter(|d| *d != "ALL") {
        set.remove(&capability(d)?);
    }
    for a in &sec.add_capabilities {
        set.insert(capability(a)?);
    }
    Ok(set)
}

const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETGID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
];

fn bind(m: &Mount) -> Result<OciMount, String> {
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    options.push(if m.read_only { "ro" } else { "rw" }.to_owned());
    MountBuilder::default()
        .destination(PathBuf::from(&m.path))
        .typ("bind")
        .source(m.host.clone())
        .options(options)
        .build()
        .map_err(|e| format!("mount {}: {e}", m.path))
}

/// CPU shares from a request in millicores, as the kubelet converts them.
pub fn shares(request_millis: Option<u64>) -> u64 {
    match request_millis {
        Some(m) if m > 0 => (m * 1024 / 1000).max(2),
        _ => 2,
    }
}

/// Open files a container may have: containerd's 1048576, or less where this process
/// (which runc inherits its ceiling from) may not give that many.
fn nofile() -> u64 {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    hard.unwrap_or(u64::MAX).min(1_048_576)
}

fn oci(e: impl std::fmt::Display) -> String {
    format!("building the bundle: {e}")
}

/// The container's `config.json`.
pub fn spec(b: &BundleSpec<'_>) -> Result<Spec, String> {
    let argv = argv(b.image, b.command, b.args)?;
    let image_user = b.image.and_then(|c| c.user().clone()).unwrap_or_default();
    let (uid, gid) = user(b.rootfs, &image_user, b.security)?;
    let cwd = b
        .working_dir
        .map(str::to_owned)
        .or_else(|| b.image.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(format!("workingDir {cwd:?} is not an absolute path"));
    }
    let caps = capabilities(b.security)?;
    let no_new_privileges =
        !b.security.privileged && !b.security.allow_privilege_escalation.unwrap_or(false);
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(argv)
        .env(environment(b.image, b.env))
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .additional_gids(b.security.supplemental_groups.clone())
                .build()
                .map_err(oci)?,
        )
        .capabilities(
            oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps.clone())
                .build()
                .map_err(oci)?,
        )
        .no_new_privileges(no_new_privileges)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(nofile())
                .soft(nofile())
                .build()
                .map_err(oci)?,
        ])
        .build()
        .map_err(oci)?;

    let mut mounts = oci_spec::runtime::get_default_mounts();
    // A mount given for a default's place replaces it (the pod's shared `/dev/shm`).
    mounts.retain(|d| {
        !b.mounts
            .iter()
            .any(|m| d.destination() == Path::new(&m.path))
    });
    for m in b.mounts {
        mounts.push(bind(m)?);
    }

    let (ipc, uts) = (
        b.shared.map(|s| s.ipc.as_path()),
        b.shared.map(|s| s.uts.as_path()),
    );
    let mut namespaces = Vec::new();
    for (typ, path) in [
        (LinuxNamespaceType::Pid, None),
        (LinuxNamespaceType::Ipc, ipc),
        (LinuxNamespaceType::Uts, uts),
        (LinuxNamespaceType::Mount, None),
        (LinuxNamespaceType::Cgroup, None),
        (LinuxNamespaceType::Network, b.netns),
    ] {
        // A network namespace is joined or, without one, the host's is used.
        if typ == LinuxNamespaceType::Network && path.is_none() {
            continue;
        }
        let mut ns = LinuxNamespaceBuilder::default();
        ns = ns.typ(typ);
        if let Some(p) = path {
            ns = ns.path(p.to_owned());
        }
        namespaces.push(ns.build().map_err(oci)?);
    }

    let mut cpu = LinuxCpuBuilder::default().shares(shares(b.limits.cpu_request_millis));
    if let Some(m) = b.limits.cpu_millis.filter(|m| *m > 0) {
        let quota = i64::try_from(m * CPU_PERIOD_US / 1000)
            .unwrap_or(i64::MAX)
            .max(1000);
        cpu = cpu.quota(quota).period(CPU_PERIOD_US);
    }
    let mut resources = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .map_err(oci)?,
        ])
        .cpu(cpu.build().map_err(oci)?);
    if let Some(bytes) = b.limits.memory_bytes {
        let limit =
            i64::try_from(bytes).map_err(|_| format!("memory limit {bytes} is too large"))?;
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .build()
                .map_err(oci)?,
        );
    }
    if let Some(n) = b.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(n).build().map_err(oci)?);
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build().map_err(oci)?)
        .cgroups_path(PathBuf::from(&b.cgroups_path));
    if b.security.privileged {
        linux = linux
            .masked_paths(Vec::<String>::new())
            .readonly_paths(Vec::<String>::new());
    } else {
        linux = linux
            .masked_paths(oci_spec::runtime::get_default_maskedpaths())
            .readonly_paths(oci_spec::runtime::get_default_readonly_paths());
        if b.seccomp {
            linux = linux.seccomp(seccomp::filter(&caps)?);
        }
    }
    let mut spec = Spec::default();
    spec.set_process(Some(process))
        .set_root(Some(
            RootBuilder::default()
                .path(b.rootfs.to_owned())
                .readonly(b.security.read_only_root_filesystem)
                .build()
                .map_err(oci)?,
        ))
        .set_hostname(Some(b.hostname.to_owned()))
        .set_mounts(Some(mounts))
        .set_linux(Some(linux.build().map_err(oci)?));
    Ok(spec)
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
