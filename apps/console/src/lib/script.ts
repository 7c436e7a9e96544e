/**
 * Scripted expectations in the console. The format, the matcher and the runner are
 * `lifeline connect --script`'s own module (dependency-free), taken as source so that a
 * script behaves the same in this page and in CI.
 */
export * from '../../../../packages/cli/src/script';
