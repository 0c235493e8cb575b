/**
 * The error hierarchy. Domain code throws these; exactly one middleware
 * (`shared/http/middleware.ts`) turns them into HTTP responses. Anything that is not
 * an `HttpError` becomes a 500 `ERR_OPERATION_FAILED` with a generic message.
 */

/** Base of every error this system throws on purpose: sets `name`, keeps `cause`. */
export class AppError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type ErrorCode =
  | 'ERR_BAD_REQUEST'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_CONFLICT'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_TEMPLATE_NOT_APPROVED'
  | 'ERR_INVALID_VARIABLES'
  | 'ERR_TARGET_LIMIT_EXCEEDED'
  | 'ERR_IDEMPOTENCY_KEY_REUSED'
  | 'ERR_OPERATION_FAILED';

/** An error with a public HTTP status, code, message and optional details. */
export class HttpError extends AppError {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

type Details = Record<string, unknown>;

/** 400: the request (body, query, form, CSV header) is malformed or invalid. */
export class BadRequestError extends HttpError {
  constructor(message: string, details?: Details) {
    super(400, 'ERR_BAD_REQUEST', message, details);
  }
}

/** 401: missing or wrong `appId` / `apiKey`. */
export class UnauthorizedError extends HttpError {
  constructor(message = 'Missing or invalid credentials: send the appId and apiKey headers of your app.') {
    super(401, 'ERR_UNAUTHORIZED', message);
  }
}

/** 404: not found, or owned by another app (indistinguishable on purpose). */
export class NotFoundError extends HttpError {
  constructor(what: string, id: string) {
    super(404, 'ERR_NOT_FOUND', `${what} '${id}' was not found.`, { [`${what.toLowerCase()}Id`]: id });
  }
}

/** 405: the path exists but not with this method. */
export class MethodNotAllowedError extends HttpError {
  constructor(method: string, path: string) {
    super(405, 'ERR_METHOD_NOT_ALLOWED', `${method} is not supported on ${path}.`);
  }
}

/** 409: the resource's state forbids the operation. */
export class ConflictError extends HttpError {
  constructor(message: string, details?: Details) {
    super(409, 'ERR_CONFLICT', message, details);
  }
}

/** 413: a body over a limit. */
export class PayloadTooLargeError extends HttpError {
  constructor(message: string, details?: Details) {
    super(413, 'ERR_PAYLOAD_TOO_LARGE', message, details);
  }
}

/** 400: a campaign or one-call send names a template that is not approved. */
export class TemplateNotApprovedError extends HttpError {
  constructor(templateId: string, status: string) {
    super(
      400,
      'ERR_TEMPLATE_NOT_APPROVED',
      `Template '${templateId}' is ${status}; approve it (PUT /api/templates/${templateId} with {"status":"approved"}) before using it.`,
      { templateId, status },
    );
  }
}

/** 400: one-call send with missing or mistyped variables. */
export class InvalidVariablesError extends HttpError {
  constructor(message: string, details?: Details) {
    super(400, 'ERR_INVALID_VARIABLES', message, details);
  }
}

/** 400: one-call send with too many targets. */
export class TargetLimitExceededError extends HttpError {
  constructor(count: number, limit: number) {
    super(
      400,
      'ERR_TARGET_LIMIT_EXCEEDED',
      `${count} targets is over the limit of ${limit}; split them or use a campaign with a CSV upload.`,
      { count, limit },
    );
  }
}
