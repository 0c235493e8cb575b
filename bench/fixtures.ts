/** What the delivery benches store before they time anything. */

/** Stores an approved template `Hello {{name}}` (one string variable) of `appId`; its id. */
export async function storeBenchTemplate(appId: string): Promise<string> {
  const { newId } = await import('#shared/domain/keys.ts');
  const { createTemplate } = await import('#shared/store/templates.ts');
  const now = new Date().toISOString();
  const id = newId('tpl');
  await createTemplate({
    id,
    appId,
    name: 'bench',
    body: 'Hello {{name}}',
    variableSchema: { name: { type: 'string' } },
    status: 'approved',
    createdAt: now,
    updatedAt: now,
  });
  return id;
}
