//! Why and how the host closes a socket: [`CloseReason`], the close frame each reason sends
//! (its code and reason text, `docs/streams.md`), and [`SocketError`], which tells the
//! protocol loop when a read failed because the client broke the WebSocket protocol — a
//! failure RFC 6455 answers with a close frame (1007 for text that is not UTF-8, 1002 for a
//! forbidden frame) before the connection ends, rather than a dropped connection.

use std::fmt::Display;

use tokio_tungstenite::tungstenite::error::{CapacityError, Error, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Why the host closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// Its queue filled up: it reads slower than the group writes.
    TooSlow,
    /// It sent a message over `max_message_bytes`.
    TooBig,
    /// It sent a binary message; the protocol is JSON text.
    Binary,
    /// The join its URL asked for was refused.
    Refused,
    /// Its token expired and was not refreshed.
    Expired,
    /// Its group lost frames it cannot replay (a shared store's window moved past them while
    /// this host was cut off): it must reconnect, with `since`, and gets a sync.
    Lost,
    /// It broke the WebSocket protocol.
    Violation(Violation),
}

/// How a client broke the WebSocket protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A text message or close reason that is not UTF-8 (1007).
    InvalidUtf8,
    /// A frame RFC 6455 forbids: unmasked, a control frame over 125 bytes or fragmented,
    /// reserved bits or opcodes, a continuation out of place (1002).
    Protocol,
    /// A frame or message larger than the socket takes (1009).
    TooBig,
}

/// A socket's read error, as the protocol loop needs to know it.
pub trait SocketError: Display {
    /// The client's breach of the protocol this error reports, if it is one; `None` for errors
    /// after which nothing can be sent (the connection is gone).
    fn violation(&self) -> Option<Violation> {
        None
    }
}

impl SocketError for Error {
    fn violation(&self) -> Option<Violation> {
        match self {
            Error::Utf8(_) => Some(Violation::InvalidUtf8),
            Error::Capacity(CapacityError::MessageTooLong { .. }) => Some(Violation::TooBig),
            Error::Protocol(
                ProtocolError::NonZeroReservedBits
                | ProtocolError::UnmaskedFrameFromClient
                | ProtocolError::FragmentedControlFrame
                | ProtocolError::ControlFrameTooBig
                | ProtocolError::UnknownControlFrameType(_)
                | ProtocolError::UnknownDataFrameType(_)
                | ProtocolError::UnexpectedContinueFrame
                | ProtocolError::ExpectedFragment(_)
                | ProtocolError::InvalidOpcode(_)
                | ProtocolError::InvalidCloseSequence,
            ) => Some(Violation::Protocol),
            _ => None,
        }
    }
}

impl CloseReason {
    /// The close for a read error, when the error is the client's breach of the protocol.
    pub(crate) fn for_read_error(error: &impl SocketError) -> Option<CloseReason> {
        error.violation().map(CloseReason::Violation)
    }
}

pub(crate) fn close_frame(reason: CloseReason) -> CloseFrame {
    let (code, reason) = match reason {
        // 1013 "try again later": reconnecting with `since` is the way to catch up.
        CloseReason::TooSlow => (CloseCode::Again, "too slow"),
        CloseReason::TooBig | CloseReason::Violation(Violation::TooBig) => {
            (CloseCode::Size, "message too big")
        }
        CloseReason::Binary => (CloseCode::Unsupported, "binary messages are not supported"),
        CloseReason::Refused => (CloseCode::Policy, "join refused"),
        CloseReason::Expired => (CloseCode::Policy, "token expired"),
        // 1013 too: reconnect with `since` (and get a sync).
        CloseReason::Lost => (CloseCode::Again, "frames lost; reconnect"),
        CloseReason::Violation(Violation::InvalidUtf8) => (CloseCode::Invalid, "invalid UTF-8"),
        CloseReason::Violation(Violation::Protocol) => (CloseCode::Protocol, "protocol error"),
    };
    CloseFrame { code, reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_breach_gets_its_close_code() {
        let utf8 = Error::Utf8("bad".into());
        let close = CloseReason::for_read_error(&utf8).map(close_frame).unwrap();
        assert_eq!(close.code, CloseCode::Invalid);
        for error in [ProtocolError::UnmaskedFrameFromClient, ProtocolError::ControlFrameTooBig] {
            let close = CloseReason::for_read_error(&Error::Protocol(error)).map(close_frame);
            assert_eq!(close.unwrap().code, CloseCode::Protocol);
        }
        let big = Error::Capacity(CapacityError::MessageTooLong { size: 2, max_size: 1 });
        assert_eq!(
            CloseReason::for_read_error(&big).map(close_frame).unwrap().code,
            CloseCode::Size
        );
        let gone = Error::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(CloseReason::for_read_error(&gone), None, "nobody is left to tell");
    }
}
