//! What every handler shares.

use std::sync::Arc;

use crate::access::Access;
use crate::hub::Hub;

/// Shared state of the API.
#[derive(Clone)]
pub struct Api {
    pub(crate) hub: Arc<Hub>,
    pub(crate) access: Arc<Access>,
}
