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

/// The sync queue and its dead-letter queue, as `template.yaml` makes them.
pub struct Queues {
    /// Sync queue URL.
    pub sync_url: String,
    /// Dead-letter queue URL.
    pub dead_letter_url: String,
}

/// Creates the sync queue with a redrive policy to a dead-letter queue after
/// `max_receive_count` receives.
pub async fn create_queues(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    visibility_timeout: u64,
    max_receive_count: u32,
) -> Result<Queues, BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{prefix}-dead-letter"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await?;
    let dead_letter_url = dlq.queue_url().unwrap_or_default().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    let dlq_arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or("the dead-letter queue has no ARN")?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
            .to_string();
    let q = sqs
        .create_queue()
        .queue_name(format!("{prefix}-sync"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await?;
    Ok(Queues {
        sync_url: q.queue_url().unwrap_or_default().to_string(),
        dead_letter_url,
    })
}
