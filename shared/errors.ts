/**
 * The error hierarchy. The domain, the stores and the HTTP layer throw these; none of
 * them knows an HTTP status. A `PublicError` carries what the caller may see (its public
 * code, message and details); exactly one middleware (`shared/http/middleware.ts`) gives
 * each code its status. Anything that is not a `PublicError` becomes a 500
 * `ERR_OPERATION_FAILED` with a generic message.
 */

/** Base of every error this system throws on purpose: sets `name`, keeps `cause`. */
export class AppError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The public error codes (docs/api.md, Error codes). */
export const ERROR_CODES = [
  'ERR_BAD_REQUEST',
  'ERR_UNAUTHORIZED',
  'ERR_NOT_FOUND',
  'ERR_METHOD_NOT_ALLOWED',
  'ERR_CONFLICT',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_TEMPLATE_NOT_APPROVED',
  'ERR_INVALID_VARIABLES',
  'ERR_TARGET_LIMIT_EXCEEDED',
  'ERR_IDEMPOTENCY_KEY_REUSED',
  'ERR_OPERATION_FAILED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** True when `code` is one of the public error codes (a stored upload failure's, say). */
export function isErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code);
}

type Details = Record<string, unknown>;

/** An error the caller is told about: its public code, message and optional details. */
export class PublicError extends AppError {
  readonly code: ErrorCode;
  readonly details: Details | undefined;
  constructor(code: ErrorCode, message: string, details?: Details, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/** `ERR_BAD_REQUEST`: an input (body, query, header, form, CSV header) is malformed or invalid. */
export class InvalidInputError extends PublicError {
  /** The input at fault (`details.field`), when the error is about one. */
  readonly field: string | undefined;
  constructor(message: string, details?: Details) {
    super('ERR_BAD_REQUEST', message, details);
    this.field = typeof details?.field === 'string' ? details.field : undefined;
  }
}

/** `ERR_UNAUTHORIZED`: missing or wrong `appId` / `apiKey`. */
export class UnauthorizedError extends PublicError {
  constructor(message = 'Missing or invalid credentials: send the appId and apiKey headers of your app.') {
    super('ERR_UNAUTHORIZED', message);
  }
}

/** `ERR_NOT_FOUND`: not found, or owned by another app (indistinguishable on purpose). */
export class NotFoundError extends PublicError {
  constructor(what: string, id: string) {
    super('ERR_NOT_FOUND', `${what} '${id}' was not found.`, { [`${what.toLowerCase()}Id`]: id });
  }
}

/** `ERR_METHOD_NOT_ALLOWED`: the path exists but not with this method. */
export class MethodNotAllowedError extends PublicError {
  constructor(method: string, path: string) {
    super('ERR_METHOD_NOT_ALLOWED', `${method} is not supported on ${path}.`);
  }
}

/** `ERR_CONFLICT`: the resource's state forbids the operation. */
export class ConflictError extends PublicError {
  constructor(message: string, details?: Details) {
    super('ERR_CONFLICT', message, details);
  }
}

/** `ERR_PAYLOAD_TOO_LARGE`: a body over a limit. */
export class PayloadTooLargeError extends PublicError {
  constructor(message: string, details?: Details) {
    super('ERR_PAYLOAD_TOO_LARGE', message, details);
  }
}

/*
 * The three errors below are fixed by a call of this API. Its route is the HTTP layer's to
 * know: `messageNaming(route)` is the message with the route in its place, which the error
 * middleware answers; the message alone names none.
 */

const notApproved = (templateId: string, status: string, route?: string) =>
  `Template '${templateId}' is ${status}; approve it${route ? ` (${route})` : ''} before using it.`;

/** `ERR_TEMPLATE_NOT_APPROVED`: a campaign or one-call send names a template that is not approved. */
export class TemplateNotApprovedError extends PublicError {
  readonly templateId: string;
  readonly templateStatus: string;
  constructor(templateId: string, status: string) {
    super('ERR_TEMPLATE_NOT_APPROVED', notApproved(templateId, status), { templateId, status });
    this.templateId = templateId;
    this.templateStatus = status;
  }

  messageNaming(route: string): string {
    return notApproved(this.templateId, this.templateStatus, route);
  }
}

const frozen = (templateId: string, status: string, fields: readonly string[], route?: string) =>
  `Template '${templateId}' is ${status}: its ${fields.join(', ')} can no longer change. Create a new template${route ? ` (${route})` : ''} with the new content instead.`;

/** `ERR_CONFLICT`: a change of an approved or archived template's content. */
export class TemplateContentFrozenError extends ConflictError {
  readonly templateId: string;
  readonly templateStatus: string;
  readonly fields: readonly string[];
  constructor(templateId: string, status: string, fields: readonly string[]) {
    super(frozen(templateId, status, fields), { templateId, status, fields });
    this.templateId = templateId;
    this.templateStatus = status;
    this.fields = fields;
  }

  messageNaming(route: string): string {
    return frozen(this.templateId, this.templateStatus, this.fields, route);
  }
}

const noSecret = (route?: string) =>
  `This app has no webhook destination, so it has no signing secret to rotate: set one${route ? ` with ${route}` : ''} first.`;

/** `ERR_CONFLICT`: a secret rotation for an app whose destination is not a webhook. */
export class NoSigningSecretError extends ConflictError {
  constructor() {
    super(noSecret());
  }

  messageNaming(route: string): string {
    return noSecret(route);
  }
}

/** `ERR_INVALID_VARIABLES`: a send with missing or mistyped variables. */
export class InvalidVariablesError extends PublicError {
  constructor(message: string, details?: Details) {
    super('ERR_INVALID_VARIABLES', message, details);
  }
}

/** `ERR_TARGET_LIMIT_EXCEEDED`: a one-call send with too many targets. */
export class TargetLimitExceededError extends PublicError {
  constructor(count: number, limit: number) {
    super(
      'ERR_TARGET_LIMIT_EXCEEDED',
      `${count} targets is over the limit of ${limit}; split them or use a campaign with a CSV upload.`,
      { count, limit },
    );
  }
}

/** `ERR_IDEMPOTENCY_KEY_REUSED`: an idempotency key sent again with a different request. */
export class IdempotencyKeyReusedError extends PublicError {
  constructor(message: string, details?: Details) {
    super('ERR_IDEMPOTENCY_KEY_REUSED', message, details);
  }
}
