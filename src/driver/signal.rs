//! Sending signals to flows from a driver.

use serde::Serialize;

use super::{Error, Mycelium};
use crate::model::JobId;
use crate::storage::{self, Sent};

impl Mycelium {
    /// Sends the signal `name` with `payload` to flow job `flow`. It is
    /// stored: the flow wakes if it waits for it, else it is kept until the
    /// flow waits for that name, and then consumed once.
    ///
    /// Refused (nothing sent) when the job does not exist, is not a flow or
    /// has ended, or when the flow has waited for `name` before and the
    /// payload does not match the type it awaited.
    pub async fn signal(&self, flow: JobId, name: &str, payload: &impl Serialize) -> Result<Sent, Error> {
        let value = serde_json::to_value(payload).map_err(|e| {
            storage::Error::invalid(
                format!("the payload of signal `{name}`"),
                e.to_string(),
                "send a JSON-encodable value",
            )
        })?;
        let name = name.to_owned();
        let sent = self.store().call(move |s| s.signal(flow, &name, &value)).await?;
        if let Some(endpoint) = crate::doorbell::Endpoint::for_store(self.store()) {
            crate::doorbell::ring(&endpoint, &sent.readied);
        }
        Ok(sent)
    }
}
