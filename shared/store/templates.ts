/** Templates in the single table, under their app's partition (`shared/domain/keys.ts`). */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { handlerTable, isConditionalCheckFailed, type Table } from '#shared/adapters/dynamodb.ts';
import { appPk, templateSk } from '#shared/domain/keys.ts';
import type { Template } from '#shared/domain/model.ts';
import { ConflictError, NotFoundError } from '#shared/errors.ts';
import { type Page, type PageOf, queryPage } from './paging.ts';

const TEMPLATE_PREFIX = templateSk('');

/** The template without table keys. */
function fromItem(item: Record<string, unknown>): Template {
  const { pk: _pk, sk: _sk, ...template } = item;
  return template as unknown as Template;
}

/** The templates store on `table`. */
export function createTemplatesStore(table: Table) {
  /** Stores a new template; its id is new, so an existing item means a bug, not a retry. */
  async function createTemplate(template: Template): Promise<void> {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { pk: appPk(template.appId), sk: templateSk(template.id), ...template },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** The app's template, or undefined (also when the id belongs to another app). */
  async function findTemplate(appId: string, id: string): Promise<Template | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: appPk(appId), sk: templateSk(id) } }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  /** The app's template, or a `NotFoundError` (also when the id belongs to another app). */
  async function getTemplate(appId: string, id: string): Promise<Template> {
    const template = await findTemplate(appId, id);
    if (!template) throw new NotFoundError('Template', id);
    return template;
  }

  /**
   * Replaces a template with `next`, only if it still has the `updatedAt` and `status`
   * it was read with; a concurrent change makes this a `ConflictError` rather than a lost update.
   */
  async function replaceTemplate(previous: Template, next: Template): Promise<void> {
    await table.client
      .send(
        new PutCommand({
          TableName: table.tableName,
          Item: { pk: appPk(next.appId), sk: templateSk(next.id), ...next },
          ConditionExpression: 'updatedAt = :updatedAt AND #status = :status',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':updatedAt': previous.updatedAt, ':status': previous.status },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionalCheckFailed(error)) throw error;
        throw new ConflictError(
          `Template '${previous.id}' was changed by another request; read it again and retry.`,
          { templateId: previous.id },
        );
      });
  }

  /** A page of the app's templates, oldest first. */
  async function listTemplates(appId: string, page: Page): Promise<PageOf<Template>> {
    const { items, lastKey } = await queryPage(
      table,
      { partition: appPk(appId), skPrefix: TEMPLATE_PREFIX },
      page,
    );
    return { items: items.map(fromItem), lastKey };
  }

  return { createTemplate, findTemplate, getTemplate, replaceTemplate, listTemplates };
}

export type TemplatesStore = ReturnType<typeof createTemplatesStore>;

/** The templates store on the handlers' table. */
export const { createTemplate, findTemplate, getTemplate, replaceTemplate, listTemplates } =
  createTemplatesStore(handlerTable);
