import kafkajs, { type Admin } from 'kafkajs';
import { CdcError, errorMessage } from './errors.ts';
import { maxMessageBytesConfig } from './topics.ts';

// kafkajs is CommonJS, and Node does not see these among its named exports.
const { ConfigResourceTypes, ConfigSource } = kafkajs;

/**
 * Raises `max.message.bytes` of existing topics below `limit` to it: a service that checks its
 * records against TOPIC_MAX_MESSAGE_BYTES needs every topic it writes to take them, including one
 * created earlier with Kafka's 1 MiB default. AlterConfigs replaces a topic's whole set of
 * overrides, so the others are sent along unchanged. A refusal (no ALTER_CONFIGS) is KAFKA_ERROR
 * naming the topics and the command that raises them.
 */
export async function raiseMessageLimits(admin: Admin, topics: string[], limit: number): Promise<void> {
  if (topics.length === 0) return;
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) });
  const below = resources.filter((r) => Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue) < limit);
  if (below.length === 0) return;
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: below.map((r) => ({
        type: ConfigResourceTypes.TOPIC,
        name: r.resourceName,
        configEntries: [
          ...r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && e.configName !== 'max.message.bytes').map((e) => ({ name: e.configName, value: e.configValue })),
          ...maxMessageBytesConfig(limit),
        ],
      })),
    });
  } catch (error) {
    const names = below.map((r) => r.resourceName).join(', ');
    throw new CdcError('KAFKA_ERROR', `Topics ${names} take records only below TOPIC_MAX_MESSAGE_BYTES=${limit} (max.message.bytes), and raising it failed: ${errorMessage(error)}`, {
      cause: error,
      hint: `Allow ALTER_CONFIGS on these topics, raise max.message.bytes yourself (kafka-configs.sh --alter --entity-type topics --entity-name <topic> --add-config max.message.bytes=${limit}), or lower TOPIC_MAX_MESSAGE_BYTES.`,
    });
  }
}
