/** Express 5 (default) and Express 4, so every behaviour suite runs on both. */
import express5, { type Express, type Router } from 'express';
import express4 from 'express4';

export interface Flavour {
  name: string;
  create: () => Express;
  router: () => Router;
}

export const flavours: Flavour[] = [
  { name: 'express 5', create: () => express5(), router: () => express5.Router() },
  {
    name: 'express 4',
    // Express 4's types differ in details these tests don't touch; the runtime API used here is shared.
    create: () => express4() as unknown as Express,
    router: () => express4.Router() as unknown as Router,
  },
];
