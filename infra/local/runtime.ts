/**
 * The whole system on one machine: embedded AWS, the HTTP front in place of API
 * Gateway, and the event sources (S3 notifications, SQS polling, schedules) that call
 * the very handlers Lambda runs. `npm start` and the integration tests both use it.
 */
import { type ApiFunctionName, apiFunctions } from '../routes.ts';
import { type EmbeddedAws, startEmbeddedAws } from './embedded-aws.ts';
import { type ApiHandler, type HttpFront, startHttpFront } from './http-front.ts';

export interface LocalRuntime {
  readonly url: string;
  readonly aws: EmbeddedAws;
  readonly appId: string;
  readonly apiKey: string;
  stop(): Promise<void>;
}

export interface LocalRuntimeOptions {
  /** HTTP port; 0 picks a free one. */
  port?: number;
  host?: string;
  /** Extra environment for the handlers (limits, waits), applied before they load. */
  env?: Record<string, string>;
}

/** Defaults the deployed functions get from the CDK stack; the caller's environment wins. */
const handlerDefaults: Record<string, string> = {
  POWERTOOLS_SERVICE_NAME: 'csv-campaigns',
  POWERTOOLS_METRICS_NAMESPACE: 'CsvCampaigns',
  // No CloudWatch here: keep metrics and traces off, and logs to warnings.
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  LOCAL_APP_ID: 'local-app',
  LOCAL_API_KEY: 'local-api-key',
};

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const aws = await startEmbeddedAws();
  let front: HttpFront | undefined;
  try {
    for (const [key, value] of Object.entries(handlerDefaults)) process.env[key] ??= value;
    Object.assign(process.env, aws.env, options.env);

    const { addApiKey } = await import('#shared/store/apps.ts');
    const appId = process.env.LOCAL_APP_ID as string;
    const apiKey = await addApiKey(appId, process.env.LOCAL_API_KEY as string);

    const loaded = new Map<ApiFunctionName, Promise<ApiHandler>>();
    const handlerFor = (name: ApiFunctionName): Promise<ApiHandler> => {
      let handler = loaded.get(name);
      if (!handler) {
        handler = import(new URL(`../../${apiFunctions[name]}`, import.meta.url).href).then(
          (module: { handler: ApiHandler }) => module.handler,
        );
        loaded.set(name, handler);
      }
      return handler;
    };
    front = await startHttpFront({ port: options.port ?? 0, host: options.host, handlerFor });

    const started = front;
    return {
      url: started.url,
      aws,
      appId,
      apiKey,
      async stop() {
        await started.stop();
        await aws.stop();
      },
    };
  } catch (error) {
    await front?.stop();
    await aws.stop();
    throw error;
  }
}
