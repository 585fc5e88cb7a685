//! The server's decisions as pure state machines: no sockets, no store, no
//! clock. The workflows and the hub drive them and do the I/O.

pub mod request;
pub mod views;
pub mod witness_round;
