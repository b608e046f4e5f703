// How both load suites (echo and Deepgram) shape and bound a run: shared, so their figures are
// taken under the same conditions.

/** Call starts are spread over this long, so they do not all open and `start` at once. */
export const STAGGER_MS = 1000;
/** Golden-ratio steps spread the calls' starting points in their scripts evenly and deterministically. */
export const PHASE_STEP = 0.6180339887;
/** How long a freshly started target may take to answer GET /health. */
export const CHILD_START_TIMEOUT_MS = 30_000;
/** Lets a freshly started target settle before its idle RSS is read. */
export const SETTLE_MS = 500;
/** SIGTERM to exit, drain included, before the target is killed. */
export const STOP_TIMEOUT_MS = 20_000;
/** Slack past the planned run for connects, the last closes and a slow machine. */
export const DEADLINE_SLACK_MS = 15_000;
