/**
 * One Powertools logger, metrics and tracer for the whole system, configured by the
 * `POWERTOOLS_*` variables that the CDK stack (and the local runtime) set.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'csv-campaigns';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'CsvCampaigns',
  // Its own notices (such as "no application metrics" on a request that added none) are noise.
  logger: logger.createChild({ logLevel: 'ERROR' }),
});
export const tracer = new Tracer({ serviceName });
