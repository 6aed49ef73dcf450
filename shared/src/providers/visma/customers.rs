//! Visma customers: `GET|POST /v2/customers`, `GET|PUT /v2/customers/{customerId}`.

use super::client::{odata_string, utc_param, VismaApi};
use super::mapping::{apply_customer, customer_in, new_customer};
use super::wire::{parse, CustomerIn};
use super::write::CustomerWrite;
use crate::domain::Customer;
use crate::http::{ApiError, Call};
use crate::providers::api::{ApiAuth, Page, Remote, Unreadable};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

impl VismaApi {
    pub(super) fn customer_of(v: Value) -> Result<Remote<Customer>, ApiError> {
        customer_in(&parse::<CustomerIn>("customer", v)?)
    }

    pub(super) async fn customers_page(
        &self,
        auth: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, ApiError> {
        let mut call = self.list_call("customers", page);
        if let Some(t) = since {
            call = call.query("$filter", format!("ChangedUtc gt {}", utc_param(t)));
        }
        let (data, meta) = self.list_page(auth, "customers", call).await?;
        let (mut items, mut unreadable) = (Vec::with_capacity(data.len()), Vec::new());
        for v in data {
            let id = v.get("Id").and_then(crate::providers::lenient::text);
            Unreadable::sort(
                id,
                Self::customer_of(v).map(Some),
                &mut items,
                &mut unreadable,
            )?;
        }
        let (has_more, next_page) = Self::paging(&meta, page);
        Ok(Page {
            items,
            has_more,
            next_page,
            high_water: meta.server_time_utc,
            unreadable,
        })
    }

    async fn customer_value(&self, auth: &ApiAuth, remote_id: &str) -> Result<Value, ApiError> {
        self.send(
            auth,
            "customers",
            Call::get(self.url(&["customers", remote_id])),
        )
        .await
    }

    pub(super) async fn customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        match self.customer_value(auth, remote_id).await {
            Ok(v) => Self::customer_of(v).map(Some),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn customer_by_number(
        &self,
        auth: &ApiAuth,
        key: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        let call = self.list_call("customers", 1).query(
            "$filter",
            format!("CustomerNumber eq {}", odata_string(key)),
        );
        let (data, _) = self.list_page(auth, "customers", call).await?;
        // Visma compares strings without regard to case: compare exactly here.
        data.into_iter()
            .find(|v| v.get("CustomerNumber").and_then(Value::as_str) == Some(key))
            .map(Self::customer_of)
            .transpose()
    }

    pub(super) async fn post_customer(
        &self,
        auth: &ApiAuth,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        let terms = self.default_terms_id(auth).await?;
        let body = Self::json(&new_customer(customer, &terms))?;
        let v = self
            .send(
                auth,
                "customers",
                Call::with_body(Method::POST, self.url(&["customers"]), body),
            )
            .await?;
        Self::customer_of(v)
    }

    /// PUT replaces the whole record: read it into its writable fields, change ours, send
    /// every writable field back.
    pub(super) async fn put_customer(
        &self,
        auth: &ApiAuth,
        remote_id: &str,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        let current = self.customer_value(auth, remote_id).await?;
        let mut body: CustomerWrite = parse("customer", current)?;
        apply_customer(&mut body, customer);
        if body.terms_of_payment_id.is_none() {
            body.terms_of_payment_id = Some(self.default_terms_id(auth).await?);
        }
        let v = self
            .send(
                auth,
                "customers",
                Call::with_body(
                    Method::PUT,
                    self.url(&["customers", remote_id]),
                    Self::json(&body)?,
                ),
            )
            .await?;
        Self::customer_of(v)
    }
}
