/**
 * The names of the federated statistics functions (kept apart from the query code so that the
 * configuration schema can list them without loading the data layer).
 *
 * @packageDocumentation
 */
export const STATS_FUNCTIONS = ['count', 'sum', 'mean', 'var', 'sd', 'quantiles', 'histogram', 'table', 'cor', 'ttest', 'chisq', 'glm'] as const
export type StatsFunction = (typeof STATS_FUNCTIONS)[number]
