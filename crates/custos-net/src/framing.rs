//! Length-prefixed control messages over an async byte stream.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use custos_wire::control;

use crate::NetError;

/// Writes one message and flushes.
pub async fn write_msg<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
) -> Result<(), NetError> {
    let bytes = control::encode(msg)?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message; refuses oversized lengths before allocating.
pub async fn read_msg<T: DeserializeOwned>(
    r: &mut (impl AsyncRead + Unpin),
) -> Result<T, NetError> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; control::body_len(prefix)?];
    r.read_exact(&mut body).await?;
    Ok(control::decode(&body)?)
}
