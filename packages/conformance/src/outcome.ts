/** How a check ends other than passing: thrown from inside it. */
export class Failure extends Error {}

/** The rule does not apply to this server, for a reason the spec allows (an optional feature it does not offer). */
export class NotApplicable extends Error {}

export const fail = (reason: string): never => {
  throw new Failure(reason);
};

export const notApplicable = (reason: string): never => {
  throw new NotApplicable(reason);
};
