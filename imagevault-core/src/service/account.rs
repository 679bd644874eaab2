//! Authentication and API tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use blake2::Blake2bMac;
use blake2::digest::Mac as _;
use blake2::digest::consts::U32;
use chrono::{DateTime, TimeDelta, Utc};

use crate::auth::ApiToken;
use crate::error::{PlanFeature, VaultError};
use crate::plan::Plan;
use crate::repo::TokenOwner;
use crate::session::SESSION_TOUCH_INTERVAL;
use crate::user::{self, Password, TokenRecord, User, UserId, Username};

use super::Vault;
use super::pool::Saturated;
use super::throttle::{LoginThrottle, Refusal, Reservation};

/// When a login refused because the password checks are saturated may try again: about
/// the time a few checks take.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long a login waits for the password checks in flight that hold the last free
/// attempts of its keys, before it is refused as throttled: a few checks' time.
const PENDING_LOGIN_WAIT: Duration = Duration::from_secs(5);

/// Tells the logins waiting in [`Vault::reserve_login`] to look again, when dropped.
struct SettledOnDrop<'a>(&'a tokio::sync::Notify);

impl Drop for SettledOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_waiters();
    }
}

/// A keyed hash of a username and password, the key of a remembered successful check: the
/// credentials cannot be read back from it, nor guessed offline without the random key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CredentialDigest([u8; 32]);

impl CredentialDigest {
    fn of(key: &[u8; 32], username: &str, password: &str) -> Self {
        let mut mac = Blake2bMac::<U32>::new_from_slice(key)
            .expect("a 32-byte key is within BLAKE2b's 64-byte limit");
        // The username's length first, so "ab" + "c" and "a" + "bc" differ.
        mac.update(&(username.len() as u64).to_le_bytes());
        mac.update(username.as_bytes());
        mac.update(password.as_bytes());
        Self(mac.finalize().into_bytes().into())
    }
}

/// A token just issued by [`Vault::issue_token`]: the secret, shown once, and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token to hand to the user.
    pub token: ApiToken,
    /// When it stops working; `None` if it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
}

impl IssuedToken {
    /// The token text, to hand to the user.
    pub fn expose(&self) -> &str {
        self.token.expose()
    }
}

/// When a token's use was last recorded, shared by an account cache entry and every copy
/// of it, so that the request that records a use updates the cached entry too: without
/// it, a cached entry would ask for a write on every request after the first interval.
#[derive(Debug, Clone)]
struct LastUse(Arc<AtomicI64>);

impl LastUse {
    /// Stands for "never recorded".
    const NEVER: i64 = i64::MIN;

    fn new(at: Option<DateTime<Utc>>) -> Self {
        Self(Arc::new(AtomicI64::new(
            at.map_or(Self::NEVER, |at| at.timestamp_micros()),
        )))
    }

    /// Whether a use at `now` is to be recorded: when none was, or the last one is at
    /// least [`SESSION_TOUCH_INTERVAL`] old. Taken by one request only, so that concurrent
    /// requests of this process write once.
    fn claim(&self, now: DateTime<Utc>) -> bool {
        let now = now.timestamp_micros();
        let interval = TimeDelta::from_std(SESSION_TOUCH_INTERVAL)
            .ok()
            .and_then(|interval| interval.num_microseconds())
            .unwrap_or(i64::MAX);
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                (last == Self::NEVER || now.saturating_sub(last) >= interval).then_some(now)
            })
            .is_ok()
    }
}

/// A token's account as the account cache keeps it.
#[derive(Debug, Clone)]
pub(super) struct CachedToken {
    account: Account,
    expires_at: Option<DateTime<Utc>>,
    last_use: LastUse,
}

/// An authenticated user with the plan in force for this request.
///
/// The plan is read at authentication, so a plan change shows in the very next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user.
    pub user: User,
    /// The user's current plan, if any.
    pub plan: Option<Plan>,
}

impl Account {
    /// The plan, or [`VaultError::NoPlan`]: every image and link operation needs one.
    pub fn require_plan(&self) -> Result<&Plan, VaultError> {
        self.plan.as_ref().ok_or(VaultError::NoPlan)
    }

    /// The plan if it grants `feature`; [`VaultError::NoPlan`] or
    /// [`VaultError::PlanForbids`] otherwise.
    pub fn require_feature(&self, feature: PlanFeature) -> Result<&Plan, VaultError> {
        let plan = self.require_plan()?;
        let granted = match feature {
            PlanFeature::OriginalLink => plan.original_link,
            PlanFeature::ExpiringLinks => plan.expiring_links,
        };
        if granted {
            Ok(plan)
        } else {
            Err(VaultError::PlanForbids(feature))
        }
    }

    /// Succeeds only for administrators.
    pub fn require_admin(&self) -> Result<(), VaultError> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(VaultError::AdminOnly)
        }
    }
}

impl Vault {
    pub(super) async fn account_of(&self, user: User) -> Result<Account, VaultError> {
        let plan = match user.plan_id {
            Some(plan_id) => self.inner.repo.get_plan(plan_id).await?,
            None => None,
        };
        Ok(Account { user, plan })
    }

    /// Logs in with a username and password.
    ///
    /// An unknown username costs the same password hash as a wrong password, so timing
    /// does not reveal which accounts exist. Either way: [`VaultError::InvalidCredentials`].
    ///
    /// Failures are counted per username (whether or not it exists) under
    /// [`VaultConfig::login_throttle`](super::VaultConfig::login_throttle): after 5 failures
    /// (by default), attempts are refused with [`VaultError::Throttled`] before any password
    /// check, even with the right password, until the delay is over. Each attempt is counted
    /// before its hash runs, so concurrent attempts get no more checks than sequential ones.
    /// A success forgets the failures. The password checks running or waiting are bounded
    /// ([`VaultConfig::password_hash_queue`](super::VaultConfig::password_hash_queue)); past
    /// that, [`VaultError::Busy`], not counted. A successful check is remembered for
    /// [`VaultConfig::verified_login_ttl`](super::VaultConfig::verified_login_ttl).
    ///
    /// A server that knows the client's address calls
    /// [`Vault::authenticate_password_from`] instead.
    pub async fn authenticate_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Account, VaultError> {
        self.login(username, password, None).await
    }

    /// [`Vault::authenticate_password`] for a request from `client`, a key such as
    /// [`client_key`](crate::client_key) of the peer's address. The failures of a username
    /// are then counted per client, so a guesser at one address does not lock the real user
    /// out elsewhere; the username from every client together, and the client whatever
    /// the username, have higher limits of their own (see
    /// [`ThrottleConfig`](super::ThrottleConfig)).
    pub async fn authenticate_password_from(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<Account, VaultError> {
        self.login(username, password, Some(client)).await
    }

    /// Password checks run so far by this vault (argon2 verifications, including those of
    /// unknown usernames); logins refused by the throttle or answered from the memory of
    /// [`VaultConfig::verified_login_ttl`](super::VaultConfig::verified_login_ttl) run none.
    pub fn password_checks(&self) -> u64 {
        self.inner.password_checks.load(Ordering::Relaxed)
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<&str>,
    ) -> Result<Account, VaultError> {
        let inner = &self.inner;
        // A NUL cannot be in a client key the server makes, so pairs cannot collide.
        let pair = format!("{}\0{username}", client.unwrap_or(""));
        let mut keys = vec![
            (&inner.pair_throttle, pair.as_str()),
            (&inner.username_throttle, username),
        ];
        if let Some(client) = client {
            keys.push((&inner.client_throttle, client));
        }
        // Declared before the reservation so that it is dropped after it: waiting logins
        // look again once this one's outcome is counted, however it ends.
        let _settled = SettledOnDrop(&inner.logins_settled);
        let reservation = self.reserve_login(&keys).await?;

        // Looked up only once the attempt is allowed, so that a throttled guesser cannot
        // learn from it.
        let digest = CredentialDigest::of(&inner.credential_key, username, password);
        let stamp = inner
            .verified
            .stamp_or_local(|| inner.repo.account_changes());
        let ttl = TimeDelta::from_std(inner.config.verified_login_ttl).unwrap_or(TimeDelta::MAX);
        if let Some(stamp) = stamp
            && let Some((account, checked_at)) = inner.verified.get(&digest, stamp)
            && self.now() - checked_at < ttl
        {
            reservation.succeeded();
            return Ok(account);
        }
        match self.verify_password(username, password).await {
            Ok(account) => {
                reservation.succeeded();
                if let Some(stamp) = stamp {
                    inner
                        .verified
                        .insert(digest, stamp, (account.clone(), self.now()));
                }
                Ok(account)
            }
            Err(VaultError::InvalidCredentials) => {
                reservation.failed();
                Err(VaultError::InvalidCredentials)
            }
            Err(other) => {
                reservation.unchecked();
                Err(other)
            }
        }
    }

    /// Reserves a login attempt on `keys` (see [`LoginThrottle::reserve`]). While only checks
    /// in flight hold the free attempts, waits for their outcomes, up to
    /// [`PENDING_LOGIN_WAIT`]: so concurrent logins of an honest client (a page's parallel
    /// requests with Basic) all go through once the first is right, while a guesser's
    /// concurrent attempts still get no more checks than sequential ones.
    async fn reserve_login<'a>(
        &self,
        keys: &[(&'a LoginThrottle, &str)],
    ) -> Result<Reservation<'a>, VaultError> {
        let deadline = tokio::time::Instant::now() + PENDING_LOGIN_WAIT;
        loop {
            let settled = self.inner.logins_settled.notified();
            tokio::pin!(settled);
            // Registered before looking, so an outcome counted in between still wakes us.
            settled.as_mut().enable();
            match LoginThrottle::reserve(keys, self.now()) {
                Ok(reservation) => return Ok(reservation),
                Err(Refusal::Throttled(retry_after)) => {
                    return Err(VaultError::Throttled { retry_after });
                }
                Err(Refusal::Pending) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        crate::metrics::record_login_throttled(crate::metrics::CREDENTIAL_PASSWORD);
                        return Err(VaultError::Throttled {
                            retry_after: BUSY_RETRY_AFTER,
                        });
                    }
                    // Bounded, and short: a test clock's time does not wake anyone.
                    let _ =
                        tokio::time::timeout(left.min(Duration::from_millis(100)), settled).await;
                }
            }
        }
    }

    async fn verify_password(&self, username: &str, password: &str) -> Result<Account, VaultError> {
        if password.len() > Password::MAX_BYTES {
            return Err(VaultError::InvalidCredentials);
        }
        let user = match Username::parse(username) {
            Ok(username) => self.inner.repo.find_user_by_username(&username).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map_or_else(
            || user::decoy_hash().clone(),
            |user| user.password_hash.clone(),
        );
        let presented = Password::presented(password);
        let verified = self
            .inner
            .hasher
            .try_run(move || user::verify_password(&presented, &hash))
            .await
            .map_err(|Saturated| VaultError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            })?
            .map_err(|_| VaultError::Internal("password verification panicked".into()))?;
        self.inner.password_checks.fetch_add(1, Ordering::Relaxed);
        match user {
            Some(user) if verified => self.account_of(user).await,
            _ => Err(VaultError::InvalidCredentials),
        }
    }

    /// Logs in with an API token: one indexed lookup by the token's hash, which also reads
    /// the user's plan, or none when the token's account is in the vault's account cache
    /// (see [`VaultConfig::account_cache_capacity`](super::VaultConfig::account_cache_capacity)).
    /// A token past its expiry is [`VaultError::InvalidCredentials`], whether cached or not.
    /// Not throttled; see [`Vault::authenticate_token_from`].
    ///
    /// A token's use is recorded (for [`Vault::list_own_tokens`]) at most once per
    /// [`SESSION_TOUCH_INTERVAL`] by each process, cached account or not.
    pub async fn authenticate_token(&self, token: &str) -> Result<Account, VaultError> {
        let hash = ApiToken::presented(token).hash();
        let repo = &self.inner.repo;
        let cache = &self.inner.accounts;
        // The stamp is read before the query, so a change committed while it runs makes
        // the entry stale at once.
        let stamp = cache.stamp(|| repo.account_changes());
        let cached = stamp.and_then(|stamp| cache.get(&hash, stamp));
        let entry = match cached {
            Some(entry) => entry,
            None => match repo.find_token_owner(&hash).await? {
                Some(TokenOwner {
                    user,
                    plan,
                    expires_at,
                    last_used_at,
                }) => {
                    let entry = CachedToken {
                        account: Account { user, plan },
                        expires_at,
                        last_use: LastUse::new(last_used_at),
                    };
                    if let Some(stamp) = stamp {
                        cache.insert(hash, stamp, entry.clone());
                    }
                    entry
                }
                None => return Err(VaultError::InvalidCredentials),
            },
        };
        let now = self.now();
        if entry.expires_at.is_some_and(|expires_at| expires_at <= now) {
            return Err(VaultError::InvalidCredentials);
        }
        if entry.last_use.claim(now) {
            // A token revoked meanwhile is not stored any more: nothing to record.
            repo.touch_token(&hash, now).await?;
        }
        Ok(entry.account)
    }

    /// [`Vault::authenticate_token`] for a request from `client`, an opaque key such as the
    /// peer's IP address, counting bad tokens per client under
    /// [`VaultConfig::login_throttle`](super::VaultConfig::login_throttle).
    ///
    /// A valid token always logs in, so clients sharing an address (behind NAT or a proxy)
    /// are never locked out by another's bad tokens. A bad token from a client that must wait
    /// is answered [`VaultError::Throttled`] instead of
    /// [`VaultError::InvalidCredentials`] until the delay is over, without counting again.
    pub async fn authenticate_token_from(
        &self,
        token: &str,
        client: &str,
    ) -> Result<Account, VaultError> {
        match self.authenticate_token(token).await {
            Err(VaultError::InvalidCredentials) => {
                let throttle = &self.inner.token_throttle;
                let now = self.now();
                throttle
                    .check(client, now)
                    .map_err(|retry_after| VaultError::Throttled { retry_after })?;
                throttle.failure(client, now);
                Err(VaultError::InvalidCredentials)
            }
            other => other,
        }
    }

    /// Issues a new API token for the account (one per device; earlier ones stay valid).
    /// The token is returned once; only its hash is stored. It expires after
    /// [`VaultConfig::token_ttl`](super::VaultConfig::token_ttl), if one is set.
    pub async fn issue_token(&self, account: &Account) -> Result<IssuedToken, VaultError> {
        let token = ApiToken::generate()
            .map_err(|error| VaultError::Internal(format!("no randomness for a token: {error}")))?;
        let created_at = self.now();
        let expires_at = match self.inner.config.token_ttl {
            Some(ttl) => Some(
                chrono::TimeDelta::from_std(ttl)
                    .ok()
                    .and_then(|ttl| created_at.checked_add_signed(ttl))
                    .ok_or_else(|| {
                        VaultError::Internal(format!("token_ttl {ttl:?} is out of range"))
                    })?,
            ),
            None => None,
        };
        self.inner
            .repo
            .insert_token(&TokenRecord {
                hash: token.hash(),
                user_id: account.user.id,
                created_at,
                expires_at,
                last_used_at: None,
            })
            .await?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Revokes a token; revoking an unknown token is not an error.
    pub async fn revoke_token(&self, token: &str) -> Result<(), VaultError> {
        self.inner
            .repo
            .delete_token(&ApiToken::presented(token).hash())
            .await?;
        self.accounts_changed();
        Ok(())
    }

    /// Revokes every token of a user (an administrator's action); the user must log in
    /// again. Returns how many tokens were revoked.
    pub async fn revoke_user_tokens(&self, admin: &Account, id: UserId) -> Result<u64, VaultError> {
        admin.require_admin()?;
        self.bootstrap_revoke_user_tokens(id).await
    }

    /// [`revoke_user_tokens`](Self::revoke_user_tokens) without an administrator's
    /// account, for command lines. [`VaultError::NotFound`] for an unknown user.
    pub async fn bootstrap_revoke_user_tokens(&self, id: UserId) -> Result<u64, VaultError> {
        self.inner
            .repo
            .get_user(id)
            .await?
            .ok_or(VaultError::NotFound)?;
        let revoked = self.inner.repo.delete_user_tokens(id).await?;
        self.accounts_changed();
        tracing::info!(user = %id, revoked, "tokens revoked");
        Ok(revoked)
    }

    pub(super) async fn hash_password(
        &self,
        password: Password,
    ) -> Result<crate::user::PasswordHash, VaultError> {
        self.inner
            .hasher
            .run(move || user::hash_password(&password))
            .await
            .map_err(|_| VaultError::Internal("password hashing panicked".into()))?
            .map_err(VaultError::Internal)
    }
}
