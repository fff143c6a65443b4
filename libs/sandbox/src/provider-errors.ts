/** What the sandbox answers, in the provider's words: error messages per call, and the documented routes. */

// Messages from the provider's English "Manage Sub-account Credits" page; create's list is translated from the French "Création de sous-compte" page.
export const CREDIT_ERRORS: Record<number, string> = {
  1: 'API key is required',
  2: 'Credit amount is required',
  3: 'Sub-account identifier is required',
  4: 'You are not authorized',
  5: 'Credit to assign must be greater than 0',
  6: 'Your balance must be greater than 0',
  7: 'Sub-account does not exist',
  8: 'Insufficient credit',
  9: 'Invalid API key',
  10: 'Invalid API key',
};
export const CREATE_ERRORS: Record<number, string> = {
  1: 'API key is required',
  2: 'You are not authorized',
  3: 'isBuyer is required',
  4: 'Type is required (simple or advanced)',
  5: 'Sub-account type does not exist (simple or advanced)',
  6: 'Email is required',
  7: 'An account already exists with this email',
  8: 'creditToAttribute must be greater than 0',
  9: 'Your balance must be greater than 0',
  10: 'Invalid API key',
};

/**
 * Answers to requests no documented call matches. The provider documents none of these; the
 * sandbox still answers in the provider's shape so that a client reading `success` never
 * meets a framework body. The codes are the sandbox's own (HTTP-like) choice.
 */
export const SANDBOX_REQUEST_ERRORS = {
  notFound: { code: 404, message: 'Unknown API route' },
  methodNotAllowed: { code: 405, message: 'Method not allowed on this route' },
  tooLarge: { code: 413, message: 'Request body too large' },
  badRequest: { code: 400, message: 'Malformed request' },
} as const;

/** The documented provider routes and the methods each answers (create: POST in every example, GET in one copy). */
export const PROVIDER_ROUTE_METHODS: Record<string, string[]> = {
  '/v1/me': ['GET', 'HEAD'],
  '/v1/subaccount/list': ['GET', 'HEAD'],
  '/v1/subaccount/create': ['POST', 'GET', 'HEAD'],
  '/v1/subaccount/credit/add': ['POST'],
  '/v1/subaccount/credit/remove': ['POST'],
};
