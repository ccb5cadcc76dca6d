//! `skiff secrets rotate-key`: a new data key for Secrets at rest, every Secret sealed
//! again with it, and the old keys removed.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use skiff_proto::grpc::api::RotateKeyRequest;
use skiff_proto::grpc::api::encryption_service_client::EncryptionServiceClient;

use super::ServerArgs;
use super::client::{self, Failure, refused};

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub action: SecretsAction,
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Make a new data key active, seal every Secret again with it, and remove the old
    /// keys (system:masters only).
    RotateKey {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub async fn run(a: &SecretsArgs) -> Result<ExitCode, Failure> {
    let SecretsAction::RotateKey { server } = &a.action;
    let t = client::server(server);
    let r = EncryptionServiceClient::new(client::channel(&t).await?)
        .rotate_key(RotateKeyRequest {})
        .await
        .map_err(|s| refused("rotating the encryption key", &s))?
        .into_inner();
    println!(
        "{} is active; {} Secrets sealed again; removed: {}",
        r.active_key,
        r.resealed,
        if r.removed_keys.is_empty() {
            "none".to_owned()
        } else {
            r.removed_keys.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}
