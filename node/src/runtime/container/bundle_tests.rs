//! The bundle as the kubelet would build it, field by field.

use std::fs;

use oci_spec::image::ConfigBuilder;

use super::*;

fn image(entrypoint: &[&str], cmd: &[&str], user: &str) -> ImageConfig {
    let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    ConfigBuilder::default()
        .entrypoint(v(entrypoint))
        .cmd(v(cmd))
        .env(vec!["PATH=/bin".to_owned(), "MODE=image".to_owned()])
        .user(user.to_owned())
        .working_dir("/srv".to_owned())
        .build()
        .unwrap()
}

fn s(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| (*x).to_owned()).collect()
}

#[test]
fn command_and_args_replace_entrypoint_and_cmd_as_kubernetes_says() {
    let img = image(&["/entry"], &["--default"], "");
    let i = Some(&img);
    assert_eq!(argv(i, &[], &[]).unwrap(), s(&["/entry", "--default"]));
    assert_eq!(argv(i, &[], &s(&["-v"])).unwrap(), s(&["/entry", "-v"]));
    assert_eq!(argv(i, &s(&["/bin/sh"]), &[]).unwrap(), s(&["/bin/sh"]));
    assert_eq!(
        argv(i, &s(&["/bin/sh"]), &s(&["-c", "x"])).unwrap(),
        s(&["/bin/sh", "-c", "x"])
    );
    let bare = image(&[], &[], "");
    let e = argv(Some(&bare), &[], &[]).unwrap_err();
    assert!(e.contains("no command specified"), "{e}");
}

#[test]
fn the_containers_env_overrides_the_images() {
    let img = image(&[], &[], "");
    let env = environment(
        Some(&img),
        &[("MODE".into(), "pod".into()), ("X".into(), "1".into())],
    );
    assert_eq!(env, s(&["PATH=/bin", "MODE=pod", "X=1"]));
    assert!(
        environment(None, &[])
            .iter()
            .any(|e| e.starts_with("PATH=/usr/local/sbin"))
    );
}

#[test]
fn users_come_from_the_security_context_or_the_images_passwd() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n",
    )
    .unwrap();
    fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
    let none = Security::default();
    assert_eq!(user(dir.path(), "", &none).unwrap(), (0, 0));
    assert_eq!(user(dir.path(), "www", &none).unwrap(), (33, 34));
    assert_eq!(user(dir.path(), "33", &none).unwrap(), (33, 34));
    assert_eq!(user(dir.path(), "www:staff", &none).unwrap(), (33, 50));
    assert_eq!(user(dir.path(), "1000:1000", &none).unwrap(), (1000, 1000));
    let forced = Security {
        run_as_user: Some(7),
        run_as_group: Some(8),
        ..Security::default()
    };
    assert_eq!(user(dir.path(), "www", &forced).unwrap(), (7, 8));
    assert!(
        user(dir.path(), "nobody", &none)
            .unwrap_err()
            .contains("/etc/passwd")
    );
    let non_root = Security {
        run_as_non_root: true,
        ..Security::default()
    };
    assert!(
        user(dir.path(), "", &non_root)
            .unwrap_err()
            .contains("runAsNonRoot")
    );
}

#[test]
fn an_images_account_files_are_read_inside_its_root_only() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("passwd"), "www:x:33:34::/:/bin/sh\n").unwrap();
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::create_dir_all(root.path().join("real")).unwrap();
    fs::write(root.path().join("real/group"), "staff:x:50:\n").unwrap();
    // An absolute link resolves inside the root, as it does in the container.
    std::os::unix::fs::symlink(
        outside.path().join("passwd"),
        root.path().join("etc/passwd"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/real/group", root.path().join("etc/group")).unwrap();
    let none = Security::default();
    assert!(
        user(root.path(), "www", &none)
            .unwrap_err()
            .contains("not in its /etc/passwd")
    );
    assert_eq!(user(root.path(), "0:staff", &none).unwrap(), (0, 50));
    // A FIFO is not opened for reading: the lookup fails instead of blocking.
    fs::remove_file(root.path().join("etc/passwd")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.path().join("etc/passwd"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert!(user(root.path(), "www", &none).is_err());
    assert!(user_reads_rootfs("www") && user_reads_rootfs("0:0") && !user_reads_rootfs(""));
}

#[test]
fn limits_namespaces_and_the_default_profile_are_in_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(&["/bin/httpd"], &["-f"], "");
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        cpu_millis: Some(500),
        cpu_request_millis: Some(250),
        deadline: None,
    };
    let sec = Security {
        read_only_root_filesystem: true,
        drop_capabilities: s(&["NET_RAW"]),
        add_capabilities: s(&["NET_ADMIN"]),
        ..Security::default()
    };
    let mounts = [Mount {
        host: dir.path().join("data"),
        path: "/data".into(),
        read_only: true,
    }];
    let netns = dir.path().join("netns");
    let shared = PodNamespaces::in_dir(dir.path());
    let b = BundleSpec {
        image: Some(&img),
        command: &[],
        args: &[],
        env: &[],
        working_dir: None,
        mounts: &mounts,
        limits: &limits,
        security: &sec,
        rootfs: dir.path(),
        hostname: "web-1",
        netns: Some(&netns),
        shared: Some(&shared),
        cgroups_path: "/skiff/podu/web".into(),
        pids_limit: Some(256),
        seccomp: true,
    };
    let spec = spec(&b).unwrap();
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        json["process"]["args"],
        serde_json::json!(["/bin/httpd", "-f"])
    );
    assert_eq!(json["process"]["cwd"], "/srv");
    assert_eq!(json["process"]["noNewPrivileges"], true);
    let caps = json["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap();
    assert!(caps.contains(&"CAP_NET_ADMIN".into()) && caps.contains(&"CAP_CHOWN".into()));
    assert!(!caps.contains(&"CAP_NET_RAW".into()) && !caps.contains(&"CAP_SYS_ADMIN".into()));
    assert_eq!(json["root"]["readonly"], true);
    assert_eq!(json["hostname"], "web-1");
    let r = &json["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(
        (r["cpu"]["quota"].as_i64(), r["cpu"]["period"].as_u64()),
        (Some(50_000), Some(100_000))
    );
    assert_eq!(r["cpu"]["shares"], 256);
    assert_eq!(r["pids"]["limit"], 256);
    assert_eq!(json["linux"]["cgroupsPath"], "/skiff/podu/web");
    let ns = json["linux"]["namespaces"].as_array().unwrap();
    assert!(
        ns.iter()
            .any(|n| n["type"] == "network" && n["path"] == netns.to_str().unwrap())
    );
    assert!(ns.iter().any(|n| n["type"] == "pid" && n["path"].is_null()));
    // The pod's containers share its IPC and UTS namespaces.
    for (typ, path) in [("ipc", &shared.ipc), ("uts", &shared.uts)] {
        assert!(
            ns.iter()
                .any(|n| n["type"] == typ && n["path"] == path.to_str().unwrap()),
            "{typ}: {ns:?}"
        );
    }
    assert!(
        json["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&"/proc/kcore".into())
    );
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
    let data = json["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/data")
        .unwrap();
    assert_eq!(
        data["options"],
        serde_json::json!(["rbind", "rprivate", "ro"])
    );

    let privileged = Security {
        privileged: true,
        ..Security::default()
    };
    let p = super::spec(&BundleSpec {
        security: &privileged,
        ..b
    })
    .unwrap();
    let json = serde_json::to_value(&p).unwrap();
    let none = |v: &serde_json::Value| v.as_array().is_none_or(|a| a.is_empty());
    assert!(json["linux"]["seccomp"].is_null() && none(&json["linux"]["maskedPaths"]));
    assert!(none(&json["linux"]["readonlyPaths"]));
    assert!(
        json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".into())
    );
}

#[test]
fn cpu_shares_follow_the_kubelets_conversion() {
    assert_eq!(shares(None), 2);
    assert_eq!(shares(Some(1)), 2);
    assert_eq!(shares(Some(1000)), 1024);
    assert_eq!(shares(Some(100)), 102);
}
