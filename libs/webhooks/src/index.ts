export * from './webhook-signature';
export * from './outbox-events.repository';
export * from './webhook-queue';
export * from './use-cases/deliver-webhook/deliver-webhook.use-case';
export * from './use-cases/relay-webhooks/relay-webhooks.use-case';
