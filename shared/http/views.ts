/** How the API shows stored items: the fields a client sees, and nothing of the table's keys. */
import type { RecipientStatus, VariableValue } from '#shared/domain/model.ts';
import type { RecipientItem } from '#shared/store/recipients.ts';

/** A recipient as the API shows it. */
export interface RecipientView {
  userId: string;
  status: RecipientStatus;
  variables: Record<string, VariableValue>;
  updatedAt: string;
  error?: string;
}

export function recipientView(item: RecipientItem): RecipientView {
  return {
    userId: item.userId,
    status: item.status,
    variables: item.variables ?? {},
    updatedAt: item.updatedAt,
    ...(item.error === undefined ? {} : { error: item.error }),
  };
}
