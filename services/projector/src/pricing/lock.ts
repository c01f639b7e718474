/**
 * Transaction-level advisory lock between pricing changes and projection.
 * The projector takes it shared for each batch (it reads the price books and
 * rates the batch's lines); `setPriceBook` takes it exclusive while it adds a
 * version and re-rates. So a batch is rated entirely by the books before or
 * entirely by the books after a change, and the re-rate sees every line.
 */
export const PRICING_LOCK_KEY = 0x68776c5f7072696en; // "hwl_prin"
