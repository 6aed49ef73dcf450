// The Node.js reference of bench/cold-start: the request the Rust function `status` answers
// (GET /api/integrations/status: one DynamoDB Query of the tenant's integrations -> 200), written
// as a Node.js 22 Lambda handler usually is: the AWS SDK for JavaScript v3 imported and its
// client built at module load (Lambda's init phase), the call made in the handler.
import { DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";

const table = process.env.TABLE_NAME;
const claim = process.env.TENANT_CLAIM || "tenant_id";
// Region, credentials and AWS_ENDPOINT_URL (moto) come from the environment, as in Rust.
const db = new DynamoDBClient({});

const reply = (statusCode, body) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export const handler = async (event) => {
  const tenant = event?.requestContext?.authorizer?.jwt?.claims?.[claim];
  if (!tenant) {
    return reply(401, { title: "no tenant in the token" });
  }
  const items = [];
  let start;
  do {
    const page = await db.send(new QueryCommand({
      TableName: table,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :sk)",
      ExpressionAttributeValues: { ":pk": { S: `TENANT#${tenant}` }, ":sk": { S: "INTEGRATION#" } },
      ExclusiveStartKey: start,
    }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey && Object.keys(page.LastEvaluatedKey).length ? page.LastEvaluatedKey : undefined;
  } while (start);
  const integrations = items.map((i) => ({
    id: i.id?.S, provider: i.provider?.S, status: i.status?.S, created_at: i.created_at?.S,
  }));
  return reply(200, { integrations });
};
