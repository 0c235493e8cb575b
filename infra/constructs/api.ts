/**
 * The HTTP API: an API Gateway REST API with every route of `infra/routes.ts`, each a
 * Lambda proxy integration of its API function. Authentication (`appId` / `apiKey`) is
 * the functions' middleware; the gateway adds throttling, access logs, tracing and
 * error responses in the API's own envelope.
 */
import { type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functions } from '../functions.ts';
import { type ApiFunctionName, binaryMediaTypes, routes } from '../routes.ts';
import { CampaignFunction, type FunctionDefaults } from './function.ts';

export interface ApiProps extends FunctionDefaults {
  /** API Gateway stage name (also the first segment of the URL path). */
  stageName: string;
  /** Steady-state requests per second across the stage. */
  throttlingRateLimit: number;
  /** Burst of requests above the rate. */
  throttlingBurstLimit: number;
  accessLogRemovalPolicy: RemovalPolicy;
}

/** The gateway's own errors, answered in the API's error envelope (see docs/api.md). */
export const gatewayErrors: readonly {
  type: apigateway.ResponseType;
  /** Overrides the gateway's status; absent on the defaults, which keep it (415, 502, 504…). */
  status?: string;
  code: string;
  /** A VTL expression or a JSON string literal. */
  message: string;
}[] = [
  {
    type: apigateway.ResponseType.UNAUTHORIZED,
    status: '401',
    code: 'ERR_UNAUTHORIZED',
    message: '"Missing or invalid credentials: send the appId and apiKey headers of your app."',
  },
  {
    type: apigateway.ResponseType.ACCESS_DENIED,
    status: '403',
    code: 'ERR_UNAUTHORIZED',
    message: '"Access denied."',
  },
  {
    // What a REST API answers for a path or method it does not have.
    type: apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    status: '404',
    code: 'ERR_NOT_FOUND',
    message: '"No such route: see the API reference for the paths and methods."',
  },
  {
    type: apigateway.ResponseType.RESOURCE_NOT_FOUND,
    status: '404',
    code: 'ERR_NOT_FOUND',
    message: '"No such route: see the API reference for the paths and methods."',
  },
  {
    type: apigateway.ResponseType.REQUEST_TOO_LARGE,
    status: '413',
    code: 'ERR_PAYLOAD_TOO_LARGE',
    message:
      '"The request body is too large: upload large CSV files with POST /api/campaigns/{id}/upload-url and a presigned PUT."',
  },
  {
    type: apigateway.ResponseType.THROTTLED,
    status: '429',
    code: 'ERR_TOO_MANY_REQUESTS',
    message: '"Too many requests: retry after a short wait."',
  },
  {
    type: apigateway.ResponseType.QUOTA_EXCEEDED,
    status: '429',
    code: 'ERR_TOO_MANY_REQUESTS',
    message: '"Request quota exceeded: retry later."',
  },
  {
    type: apigateway.ResponseType.DEFAULT_4XX,
    code: 'ERR_BAD_REQUEST',
    // `messageString` is the gateway's message, already a quoted JSON string.
    message: '$context.error.messageString',
  },
  {
    type: apigateway.ResponseType.DEFAULT_5XX,
    code: 'ERR_OPERATION_FAILED',
    message: '"The operation failed: retry, and contact support with the request id if it persists."',
  },
];

/** Fields of an access log line: who, what, the outcome and where the time went. */
export const accessLogFields = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  errorType: '$context.error.responseType',
  errorMessage: '$context.error.message',
  xrayTraceId: '$context.xrayTraceId',
} as const;

export class Api extends Construct {
  readonly restApi: apigateway.RestApi;
  readonly accessLogs: logs.LogGroup;
  readonly functions: Readonly<Record<ApiFunctionName, CampaignFunction>>;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const defaults = { logRetention: props.logRetention, logRemovalPolicy: props.logRemovalPolicy };
    this.functions = {
      templates: new CampaignFunction(this, 'TemplatesApi', { ...defaults, spec: functions.templatesApi }),
      campaigns: new CampaignFunction(this, 'CampaignsApi', { ...defaults, spec: functions.campaignsApi }),
      uploads: new CampaignFunction(this, 'UploadsApi', { ...defaults, spec: functions.uploadsApi }),
      notifications: new CampaignFunction(this, 'NotificationsApi', {
        ...defaults,
        spec: functions.notificationsApi,
      }),
      destination: new CampaignFunction(this, 'DestinationApi', {
        ...defaults,
        spec: functions.destinationApi,
      }),
      exports: new CampaignFunction(this, 'ExportsApi', { ...defaults, spec: functions.exportsApi }),
    };

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.accessLogRemovalPolicy,
    });
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      description: 'CSV batch campaign delivery',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      binaryMediaTypes: [...binaryMediaTypes],
      // Execution logging needs the account-wide API Gateway CloudWatch role, which one
      // stage's stack should not own; access logs below record every request.
      cloudWatchRole: false,
      deployOptions: {
        stageName: props.stageName,
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        tracingEnabled: true,
        metricsEnabled: true,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        // JSON, one line per request; never the appId/apiKey headers.
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
    });

    // The stack prints the URL with the API's base path (`ApiUrl`); drop the bare stage URL.
    this.restApi.node.tryRemoveChild('Endpoint');

    const integrations = new Map<ApiFunctionName, apigateway.LambdaIntegration>();
    for (const route of routes) {
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new apigateway.LambdaIntegration(this.functions[route.function], {
          allowTestInvoke: false,
        });
        integrations.set(route.function, integration);
      }
      const resource = this.restApi.root.resourceForPath(route.path);
      resource.addMethod(route.method, integration);
      // Any other method on a path the API has reaches the same function, which answers
      // 405 ERR_METHOD_NOT_ALLOWED as the local HTTP front does (API Gateway alone would
      // answer 403 "Missing Authentication Token").
      if (!resource.node.tryFindChild('ANY')) resource.addMethod('ANY', integration);
    }

    const acknowledge = (id: string, reason: string) =>
      Validations.of(this.restApi).acknowledge({ id, reason });
    const auth =
      "Every request is authenticated by the functions' appId/apiKey middleware against the hashed keys in the table (docs/api.md); the API's clients are server-side apps, not Cognito users.";
    acknowledge('AwsSolutions-APIG4', auth);
    acknowledge('AwsSolutions-COG4', auth);
    acknowledge(
      'AwsSolutions-APIG2',
      "Requests are validated by zod schemas in the functions, which answer in the API's error envelope with messages that name the field; an API Gateway validator would answer in its own format.",
    );
    acknowledge(
      'AwsSolutions-APIG6',
      "Execution logging needs the account-wide API Gateway CloudWatch role, which one stage's stack should not own; JSON access logs of every request and X-Ray tracing are on, and each function logs its requests.",
    );
    acknowledge(
      'AwsSolutions-APIG3',
      'WAF is an account-level cost decision; attach a web ACL to the stage when the API is exposed beyond trusted apps (see docs/deploy.md). Stage throttling limits abuse meanwhile.',
    );

    for (const error of gatewayErrors) {
      this.restApi.addGatewayResponse(`Gateway${error.type.responseType}`, {
        type: error.type,
        statusCode: error.status,
        templates: {
          'application/json': `{"error":{"code":"${error.code}","message":${error.message},"details":{}}}`,
        },
      });
    }
  }
}
