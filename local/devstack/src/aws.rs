//! AWS resources the template creates, made in moto: the table and the KMS key.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// AWS configuration pointing at `endpoint` with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("eu-north-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "devstack",
        ))
        .load()
        .await
}

/// Creates the single table as `template.yaml` describes it.
pub async fn create_table(sdk: &aws_config::SdkConfig, name: &str) -> Result<(), BoxError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await?;
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// Creates a customer-managed KMS key and gives its ARN.
pub async fn create_key(sdk: &aws_config::SdkConfig) -> Result<String, BoxError> {
    let kms = aws_sdk_kms::Client::new(sdk);
    let out = kms
        .create_key()
        .description("accounting integrations secrets")
        .send()
        .await?;
    out.key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| "CreateKey returned no ARN".into())
}
