/**
 * fauxqs builds its server with Fastify's `bodyLimit` at 11 MiB, but S3 takes single
 * PUTs up to 5 GB and our presigned uploads up to 50 MiB. This module stands in for
 * `fastify` when fauxqs imports it and raises that limit; everything else is Fastify.
 */
import fastify from 'fastify';

const S3_SINGLE_PUT_LIMIT = 5 * 1024 ** 3;

type Factory = (options?: Record<string, unknown>) => unknown;

const withS3Limit: Factory = (options = {}) =>
  (fastify as unknown as Factory)({
    ...options,
    bodyLimit: Math.max(Number(options.bodyLimit ?? 0), S3_SINGLE_PUT_LIMIT),
  });

export default Object.assign(withS3Limit, fastify);
