//! Length-prefixed control messages over an async byte stream: a 4-byte
//! big-endian length, then a postcard body; bounded, no trailing bytes.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::NetError;

/// Largest control message (a relayed frame plus routing).
pub const MAX_CONTROL: usize = custos_wire::MAX_FRAME + 4096;

/// Why a control message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Declared length above [`MAX_CONTROL`].
    #[error("control message too large ({0} bytes)")]
    TooLarge(usize),
    /// Body does not decode, or has trailing bytes.
    #[error("control message does not decode")]
    Malformed,
}

/// Encodes a message with its length prefix.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ControlError> {
    let body = postcard::to_stdvec(msg).map_err(|_| ControlError::Malformed)?;
    if body.len() > MAX_CONTROL {
        return Err(ControlError::TooLarge(body.len()));
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads the body length from a 4-byte prefix, refusing oversized ones before
/// anything is allocated.
pub fn body_len(prefix: [u8; 4]) -> Result<usize, ControlError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_CONTROL {
        return Err(ControlError::TooLarge(len));
    }
    Ok(len)
}

/// Decodes a body (without its prefix); rejects trailing bytes.
pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ControlError> {
    let (msg, rest) = postcard::take_from_bytes(body).map_err(|_| ControlError::Malformed)?;
    if !rest.is_empty() {
        return Err(ControlError::Malformed);
    }
    Ok(msg)
}

/// Writes one message and flushes.
pub async fn write_msg<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
) -> Result<(), NetError> {
    let bytes = encode(msg)?;
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
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body).await?;
    Ok(decode(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Message {
        Abort { session: [u8; 32], reason: String },
    }

    #[test]
    fn framing_round_trip_and_bounds() {
        let msg = Message::Abort {
            session: [1; 32],
            reason: "deadline".into(),
        };
        let bytes = encode(&msg).unwrap();
        let len = body_len(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode::<Message>(&bytes[4..]).unwrap(), msg);
        assert_eq!(
            body_len(u32::MAX.to_be_bytes()),
            Err(ControlError::TooLarge(u32::MAX as usize))
        );
        let mut trailing = bytes[4..].to_vec();
        trailing.push(0);
        assert_eq!(decode::<Message>(&trailing), Err(ControlError::Malformed));
    }
}
