/** The runs bench's answer text, shared by its contenders (which send it) and its driver (which checks it). */
const WORDS = [
  'the',
  'cat',
  'sat',
  'on',
  'a',
  'mat',
  'and',
  'ate',
  'its',
  'hat',
  'now',
  'we',
  'see',
  'why',
  'you',
  'ran',
];

/** Token `i`'s text in run `key` (a short word and a space): deterministic, so the driver knows the answer. */
export function tokenText(key, i) {
  let h = 0;
  for (let c = 0; c < key.length; c++) h = (h * 31 + key.charCodeAt(c)) | 0;
  return `${WORDS[((h >>> 0) + i * 7) % WORDS.length]} `;
}

/** The whole answer of run `key` with `n` tokens. */
export function answerText(key, n) {
  let text = '';
  for (let i = 0; i < n; i++) text += tokenText(key, i);
  return text;
}

/** Response header: when the app received `POST /chat`, in µs of CLOCK_MONOTONIC. */
export const APP_RECEIVED_HEADER = 'x-bench-app-received';
