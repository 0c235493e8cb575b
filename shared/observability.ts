/**
 * One Powertools logger, metrics and tracer for the whole system, configured by the
 * `POWERTOOLS_*` variables that the CDK stack (and the local runtime) set. Each is made
 * on its first use (`onFirstUse`), not when this module loads: Powertools reads those
 * variables when it constructs one, and the local runtime and tests set them after
 * their imports have loaded.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { onFirstUse } from '#shared/first-use.ts';

const serviceName = () => process.env.POWERTOOLS_SERVICE_NAME ?? 'csv-campaigns';

export const logger: Logger = onFirstUse(() => new Logger({ serviceName: serviceName() }));
export const metrics: Metrics = onFirstUse(
  () =>
    new Metrics({
      serviceName: serviceName(),
      namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'CsvCampaigns',
      // Its own notices (such as "no application metrics" on a request that added none) are noise.
      logger: logger.createChild({ logLevel: 'ERROR' }),
    }),
);
export const tracer: Tracer = onFirstUse(() => new Tracer({ serviceName: serviceName() }));
