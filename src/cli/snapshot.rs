//! `skiff snapshot save FILE` (a running member's state, as one checksummed file) and
//! `skiff snapshot restore FILE --data-dir D` (a new one-member cluster's data from it), as
//! etcdctl's snapshot save and restore.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use skiff_control::server::DATABASE_FILE;
use skiff_control::store::backup;
use skiff_proto::grpc::raft::SaveSnapshotRequest;
use skiff_proto::grpc::raft::membership_client::MembershipClient;

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub action: SnapshotAction,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Save a running member's state (every object, as of a linearizable read) to FILE.
    Save {
        /// Where to write the snapshot (written beside it first, then renamed).
        file: PathBuf,
        /// Any member's address.
        #[arg(long, env = "SKIFF_SERVER")]
        server: Option<String>,
        /// A folder with the credentials to call it with (an admin's or a member's).
        #[arg(long, env = "SKIFF_CREDENTIALS", value_name = "DIR")]
        credentials: Option<PathBuf>,
    },
    /// Prepare a new data directory from a snapshot: `skiff control --id ID --data-dir D
    /// --listen ADDR` then starts a one-member cluster holding every object (others join
    /// it as usual). Secrets need the old cluster's CA key (or its SKIFF_ENCRYPTION_KEY).
    Restore {
        /// A file written by `skiff snapshot save`.
        file: PathBuf,
        /// A new, empty directory for the member's data.
        #[arg(long)]
        data_dir: PathBuf,
        /// The new cluster's first member.
        #[arg(long, default_value_t = 1)]
        id: u64,
    },
}

pub fn run(a: &SnapshotArgs) -> Result<ExitCode> {
    match &a.action {
        SnapshotAction::Save {
            file,
            server,
            credentials,
        } => save(file, server.as_deref(), credentials.as_deref()),
        SnapshotAction::Restore { file, data_dir, id } => restore(file, data_dir, *id),
    }
}

fn save(file: &Path, server: Option<&str>, credentials: Option<&Path>) -> Result<ExitCode> {
    super::client::runtime()?.block_on(async {
        let target = super::client::target(server, credentials, None);
        let mut client = match super::client::channel(&target).await {
            Ok(c) => MembershipClient::new(c),
            Err(f) => return Ok(f.report()),
        };
        let mut stream = match client.save_snapshot(SaveSnapshotRequest {}).await {
            Ok(s) => s.into_inner(),
            Err(s) => {
                eprintln!("saving a snapshot from {}: {}", target.addr, s.message());
                return Ok(ExitCode::from(1));
            }
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .with_context(|| format!("receiving the snapshot from {}", target.addr))?
        {
            bytes.extend_from_slice(&chunk.data);
        }
        let snap = backup::decode(&bytes)
            .map_err(|e| anyhow::anyhow!("the snapshot {} sent is {e}", target.addr))?;
        let part = file.with_extension("part");
        let mut f =
            std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", part.display()))?;
        std::fs::rename(&part, file)
            .with_context(|| format!("renaming {} to {}", part.display(), file.display()))?;
        println!(
            "Snapshot saved to {}: revision {}, {} bytes",
            file.display(),
            snap.get_metadata().index,
            bytes.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn restore(file: &Path, data_dir: &Path, id: u64) -> Result<ExitCode> {
    if id == 0 {
        eprintln!("--id 0: member ids start at 1");
        return Ok(ExitCode::from(1));
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let snap = match backup::decode(&bytes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    let fresh = std::fs::read_dir(data_dir).map_or(true, |mut d| d.next().is_none());
    if !fresh {
        eprintln!(
            "--data-dir {}: not empty; restore into a new, empty directory",
            data_dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let revision = match backup::restore(&snap, &data_dir.join(DATABASE_FILE), id) {
        Ok(r) => r,
        Err(e) => {
            // Nothing half-made is left behind to be started by mistake.
            let _ = std::fs::remove_dir_all(data_dir);
            eprintln!("restoring {}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    println!(
        "Restored revision {revision} into {}.\nStart the new cluster with: skiff control --id {id} --data-dir {} --listen HOST:PORT",
        data_dir.display(),
        data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
