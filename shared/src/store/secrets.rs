//! The Secrets Manager adapter, encrypted with the configured customer-managed KMS key. An
//! integration has two secrets under two prefixes: its OAuth tokens ([`TokenSecret`]) and its
//! webhook signing keys ([`WebhookSecret`]), so that IAM can give each function only the one it
//! needs.
//!
//! [`TokenSecret`]: crate::domain::TokenSecret
//! [`WebhookSecret`]: crate::domain::WebhookSecret

use super::StoreError;
use crate::domain::SecretDocument;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;

/// Integration secrets (tokens and webhook keys alike; the type says which).
#[derive(Clone)]
pub struct Vault {
    client: crate::aws_http::OnFirstUse<Client>,
    kms_key_id: Option<String>,
}

impl Vault {
    /// The adapter; `kms_key_id` is the customer-managed key new secrets are encrypted with.
    pub fn new(
        client: impl Into<crate::aws_http::OnFirstUse<Client>>,
        kms_key_id: Option<String>,
    ) -> Self {
        Vault {
            client: client.into(),
            kms_key_id,
        }
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the secret `name`, tagged with its tenant and integration.
    pub async fn create<T: SecretDocument>(
        &self,
        name: &str,
        value: &T,
        tenant: &str,
        integration: &str,
    ) -> Result<(), StoreError> {
        match self
            .create_if_absent(name, value, tenant, integration)
            .await?
        {
            true => Ok(()),
            false => Err(StoreError::Aws {
                service: "Secrets Manager",
                message: format!("the secret {name} exists already"),
            }),
        }
    }

    /// Creates the secret `name` unless it exists already: `false` when it did (the existing
    /// value is left alone).
    pub async fn create_if_absent<T: SecretDocument>(
        &self,
        name: &str,
        value: &T,
        tenant: &str,
        integration: &str,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .create_secret()
            .name(name)
            .description(T::DESCRIPTION)
            .secret_string(to_json(value)?)
            .set_kms_key_id(self.kms_key_id.clone())
            .tags(Tag::builder().key("tenant").value(tenant).build())
            .tags(Tag::builder().key("integration").value(integration).build())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_exists_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::secrets(e)),
        }
    }

    /// Reads the secret; `None` when it does not exist (or is scheduled for deletion).
    pub async fn read<T: SecretDocument>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => {
                let raw = out.secret_string().unwrap_or_default();
                serde_json::from_str(raw)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("secret {name}: {e}")))
            }
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_resource_not_found_exception() || se.is_invalid_request_exception()
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(StoreError::secrets(e)),
        }
    }

    /// Stores a new version of the secret.
    pub async fn write<T: SecretDocument>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(to_json(value)?)
            .send()
            .await
            .map_err(StoreError::secrets)?;
        Ok(())
    }

    /// Deletes the secret at once, without a recovery window: the tokens or keys in it were
    /// revoked or are about to be useless, and keeping them is only a liability.
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::secrets(e)),
        }
    }
}

fn to_json<T: SecretDocument>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}
