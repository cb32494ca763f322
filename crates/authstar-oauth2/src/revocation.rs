//! The revocation endpoint's work (RFC 7009): a client revokes one of its tokens.

use std::future::Future;

use authstar::Client;

use crate::BoxError;

use crate::TokenError;
use crate::action::{Action, Answer, Holds, private};
use crate::form::TokenRequestForm;

/// Revokes a token for the authenticated client that presented it (RFC 7009 §2.1): the token
/// as sent and the client. Implemented for every
/// `Fn(String, C) -> impl Future<Output = Result<(), E>>`.
///
/// Answer `Ok(())` for a token that is unknown, invalid or already expired too: RFC 7009 §2.2
/// treats those as revoked. A [`TokenError`] error is the client's answer (e.g.
/// `unauthorized_client` for another client's token); any other error is a 500.
pub trait TokenRevoker<C>: Send + Sync + 'static {
    /// Revokes `token`.
    fn revoke(&self, token: String, client: C)
    -> impl Future<Output = Result<(), BoxError>> + Send;
}

impl<C, F, Fut, E> TokenRevoker<C> for F
where
    C: Send,
    F: Fn(String, C) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    async fn revoke(&self, token: String, client: C) -> Result<(), BoxError> {
        self(token, client).await.map_err(Into::into)
    }
}

/// The revocation endpoint's work: revoke with a [`TokenRevoker`]; `200` with an empty body.
#[derive(Clone, Copy, Debug)]
pub struct Revoke<R>(pub(crate) R);

impl<R> private::Sealed for Revoke<R> {}

impl<C: Client, R: TokenRevoker<C>> Action<C> for Revoke<R> {
    const NAME: &'static str = "revocation";

    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError> {
        form.require_token().map(|_| ())
    }

    async fn answer(
        &self,
        mut form: TokenRequestForm,
        client: C,
        _: Holds,
    ) -> Result<Answer, BoxError> {
        let token = form.token.take().unwrap_or_default();
        self.0.revoke(token, client).await?;
        Ok(Answer::Empty)
    }
}
