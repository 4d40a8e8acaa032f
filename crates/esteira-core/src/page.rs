//! Opaque page tokens for paginated searches.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Error, Result};

/// Encodes the offset of the next page as an opaque token.
pub fn encode(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{{\"offset\":{offset}}}"))
}

/// Decodes a token made by [`encode`]; an empty or absent token is offset 0.
///
/// # Errors
/// `INVALID_PARAMETER_VALUE` naming `page_token` when the token was not made by [`encode`].
pub fn decode(token: Option<&str>) -> Result<u64> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let invalid = || {
        Error::invalid(format!(
            "Invalid page token {token:?}: not issued by this server"
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    value
        .get("offset")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(decode(Some(&encode(250))).unwrap(), 250);
        assert_eq!(decode(None).unwrap(), 0);
        assert_eq!(decode(Some("")).unwrap(), 0);
        let err = decode(Some("not-a-token")).unwrap_err();
        assert!(err.message.contains("page token"), "{err}");
    }
}
