/**
 * Stream naming: `<category>-<id>`, as EventStoreDB users expect (category projections split
 * on the first dash; ids may contain dashes, categories never do).
 */
export const Category = {
  lport: 'lport',
  chassis: 'chassis',
  lswitch: 'lswitch',
  subnet: 'subnet',
  router: 'router',
  fip: 'fip',
  segmentation: 'segmentation',
} as const;
export type Category = (typeof Category)[keyof typeof Category];

export const streamName = (category: Category, id: string): string => `${category}-${id}`;

export const lportStream = (portId: string): string => streamName(Category.lport, portId);
export const chassisStream = (chassisId: string): string => streamName(Category.chassis, chassisId);

/** Splits a stream name into category and id; undefined for names outside our categories. */
export function parseStreamName(name: string): { category: Category; id: string } | undefined {
  const dash = name.indexOf('-');
  if (dash <= 0) return undefined;
  const category = name.slice(0, dash);
  if (!Object.values(Category).includes(category as Category)) return undefined;
  return { category: category as Category, id: name.slice(dash + 1) };
}
