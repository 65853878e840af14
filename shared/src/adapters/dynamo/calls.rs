//! The SDK calls every part of the store shares, each with its retries: a strongly
//! consistent GetItem, transactions tried again while cancelled only by contention, and
//! BatchWriteItem / BatchGetItem sent again for what DynamoDB leaves unprocessed.

use super::{DynamoStore, Item, sdk};
use crate::ports::store::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, WriteRequest};
use std::time::Duration;

/// Tries of a cancelled transaction (and of `append`'s read-modify-write) before giving up.
pub(super) const MAX_ATTEMPTS: u32 = 8;

/// BatchWriteItem calls one bulk write keeps in flight: enough to hide the round trip, few
/// enough that a provisioned table's burst is not spent at once.
const WRITES_IN_FLIGHT: usize = 8;

/// Requests one BatchWriteItem may carry (DynamoDB's limit).
const REQUESTS_PER_WRITE: usize = 25;

/// Jittered exponential backoff for retries (transaction conflicts, unprocessed batch items).
pub(super) async fn backoff(attempt: u32) {
    use rand::Rng;
    let base = 20u64 << attempt.min(6);
    let ms = rand::rng().random_range(base / 2..=base);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Sends `call` what is pending until it answers that nothing is left, with back-off between
/// calls, and collects what each call found. Batch calls answer part of a request and name
/// the rest (a response over its size limit, throttling): the SDK's retry sees a success.
/// Gives up once more than `2 * MAX_ATTEMPTS` calls have left something.
pub(super) async fn until_processed<P, T, F>(
    first: P,
    mut call: impl FnMut(P) -> F,
) -> Result<Vec<T>, StoreError>
where
    F: Future<Output = Result<(Vec<T>, Option<P>), StoreError>>,
{
    let (mut found, mut pending, mut attempt) = (Vec::new(), Some(first), 0);
    while let Some(asked) = pending.take() {
        let (got, left) = call(asked).await?;
        found.extend(got);
        if left.is_some() {
            attempt += 1;
            if attempt > MAX_ATTEMPTS * 2 {
                return Err(StoreError::Unavailable(
                    format!("a batch call left items unprocessed after {attempt} calls").into(),
                ));
            }
            backoff(attempt).await;
        }
        pending = left;
    }
    Ok(found)
}

type TxError = SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

/// Why a transaction was cancelled, per item, when it was.
fn cancel_codes(e: &TxError) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn is_retryable_tx(codes: &[String]) -> bool {
    codes
        .iter()
        .any(|c| c == "TransactionConflict" || c == "ThrottlingError")
}

/// A Put for a transaction, under a condition when one is given.
pub(super) fn put_item(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Option<Item>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(values)
        .build()
        .map_err(sdk)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    /// A strongly consistent GetItem.
    pub(super) async fn get_consistent(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    /// Sends a transaction, and again with back-off (up to `MAX_ATTEMPTS`) while it is
    /// cancelled only by a concurrent transaction or throttling. On failure: the error, and
    /// the cancellation reason of each item when it was a cancellation, for the caller to
    /// read which condition failed.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), (TxError, Option<Vec<String>>)> {
        let mut attempt = 0;
        loop {
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match cancel_codes(&err) {
                Some(codes) if is_retryable_tx(&codes) && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                codes => return Err((err, codes)),
            }
        }
    }

    /// BatchWriteItem in chunks of `REQUESTS_PER_WRITE`, `WRITES_IN_FLIGHT` chunks at a time:
    /// one call after another waited a round trip per 25 items. Throttled calls are retried
    /// by the SDK's adaptive retry (`config.rs`), which also slows the client down; items a
    /// call leaves unprocessed are sent again by `until_processed`.
    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(requests.chunks(REQUESTS_PER_WRITE).map(<[_]>::to_vec))
            .map(|chunk| until_processed(chunk, |pending| self.write_call(pending)))
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_for_each(|_: Vec<()>| async { Ok(()) })
            .await
    }

    /// One BatchWriteItem, and the requests it left unprocessed.
    async fn write_call(
        &self,
        pending: Vec<WriteRequest>,
    ) -> Result<(Vec<()>, Option<Vec<WriteRequest>>), StoreError> {
        let out = self
            .client
            .batch_write_item()
            .request_items(&self.table, pending)
            .send()
            .await
            .map_err(sdk)?;
        let left = out
            .unprocessed_items()
            .and_then(|m| m.get(&self.table))
            .filter(|r| !r.is_empty())
            .cloned();
        Ok((Vec::new(), left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn when_a_batch_call_leaves_items_should_send_them_again_and_collect_every_answer() {
        // A call answers the first item it is sent and leaves the rest, as a throttled
        // BatchWriteItem / BatchGetItem does.
        let sent = std::cell::RefCell::new(Vec::new());
        let found = until_processed(vec![1, 2, 3], |pending: Vec<i32>| {
            sent.borrow_mut().push(pending.clone());
            async move {
                let (first, rest) = pending.split_first().expect("never sent an empty batch");
                Ok((vec![*first * 10], (!rest.is_empty()).then(|| rest.to_vec())))
            }
        })
        .await
        .expect("every item is answered within the attempts");
        assert_eq!(found, vec![10, 20, 30]);
        assert_eq!(sent.into_inner(), vec![vec![1, 2, 3], vec![2, 3], vec![3]]);
    }
}
