//! Reverse charge on construction services on a Fortnox invoice. Fortnox's customer invoice
//! (`fortnox_Kf_InvoiceSingleItem`) has no field for it: the customer's `VATType`
//! (`fortnox_Kf_CustomerSingleItem.VATType`, `SEREVERSEDVAT`) makes its invoices reverse
//! charged, and their rows carry `VAT` 0. So a read invoice is flagged from its customer.
//!
//! Cost: the customer is read only for an invoice that may be reverse charged (a priced row,
//! none with VAT): an invoice with VAT costs no request more.

use super::client::FortnoxApi;
use super::mapping::{may_be_reverse_charged, with_reverse_charge};
use crate::domain::Invoice;
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, Remote};

impl FortnoxApi {
    /// Sets `reverse_charge_construction` on a read invoice from its customer's `VATType`.
    pub(super) async fn with_reverse_charge(
        &self,
        auth: &ApiAuth,
        mut remote: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        let customer = remote.customer_remote_id.clone().unwrap_or_default();
        if customer.is_empty() || !may_be_reverse_charged(&remote.record) {
            return Ok(remote);
        }
        let reversed = self
            .get_customer(auth, &customer)
            .await?
            .is_some_and(|c| c.record.reverse_charge_construction);
        let vat_type = reversed.then_some("SEREVERSEDVAT");
        remote.record = with_reverse_charge(remote.record, vat_type);
        Ok(remote)
    }
}
