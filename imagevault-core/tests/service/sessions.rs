//! Browser sessions: how they end (idleness, lifetime, logout, sign-out everywhere,
//! password changes, the reconciler's purge) and how often their use is written.

use std::time::Duration;

use chrono::TimeDelta;
use imagevault_core::{
    Account, Clock as _, Password, PlanId, SESSION_TOUCH_INTERVAL, SessionSecret, StartedSession,
    ThrottleConfig, UserChanges, VaultConfig, VaultError,
};

use crate::harness::TestVault;

/// The password the harness gives every user.
const PASSWORD: &str = "correct horse battery";

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap()
}

/// A vault whose sessions end after 1 hour idle, and 3 hours after sign-in.
fn short_sessions() -> TestVault {
    let mut config = VaultConfig::default();
    config.session_idle_timeout = Duration::from_secs(3600);
    config.session_lifetime = Duration::from_secs(3 * 3600);
    TestVault::with_config(config)
}

async fn authenticates(t: &TestVault, session: &StartedSession) -> Result<Account, VaultError> {
    t.vault.authenticate_session(&session.secret).await
}

/// Whether the session is still stored.
async fn stored(t: &TestVault, session: &StartedSession) -> bool {
    t.vault
        .repo()
        .find_session(&session.secret.hash())
        .await
        .unwrap()
        .is_some()
}

fn refused(answer: Result<Account, VaultError>) -> bool {
    matches!(answer, Err(VaultError::InvalidCredentials))
}

#[tokio::test]
async fn a_session_idle_longer_than_the_timeout_ends_and_is_deleted() {
    let t = short_sessions();
    let user = t.user(Some(PlanId::BASIC)).await;
    let session = t.vault.start_session(&user).await.unwrap();
    assert_eq!(authenticates(&t, &session).await.unwrap(), user);

    t.clock.advance(TimeDelta::hours(1));
    assert_eq!(
        authenticates(&t, &session).await.unwrap().user.id,
        user.user.id,
        "a session idle exactly the timeout still works"
    );
    t.clock
        .advance(TimeDelta::hours(1) + TimeDelta::microseconds(1));
    assert!(refused(authenticates(&t, &session).await));
    assert!(
        !stored(&t, &session).await,
        "an idle session is deleted when it is refused"
    );
    t.clock.advance(TimeDelta::seconds(-7200));
    assert!(
        refused(authenticates(&t, &session).await),
        "a session ended for idleness stays ended"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime_however_much_it_is_used() {
    let t = short_sessions();
    let user = t.user(Some(PlanId::BASIC)).await;
    let started_at = t.clock.now();
    let session = t.vault.start_session(&user).await.unwrap();
    assert_eq!(session.expires_at, started_at + TimeDelta::hours(3));
    for _ in 0..3 {
        t.clock.advance(TimeDelta::minutes(59));
        authenticates(&t, &session).await.unwrap();
    }
    t.clock.set(session.expires_at - TimeDelta::microseconds(1));
    authenticates(&t, &session).await.unwrap();
    t.clock.set(session.expires_at);
    assert!(
        refused(authenticates(&t, &session).await),
        "a session in use ends at its expiry"
    );
    assert!(!stored(&t, &session).await, "an expired session is deleted");
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let started_at = t.clock.now();
    let session = t.vault.start_session(&user).await.unwrap();
    let last_seen = || async {
        t.vault
            .repo()
            .find_session(&session.secret.hash())
            .await
            .unwrap()
            .unwrap()
            .session
            .last_seen_at
    };
    assert_eq!(last_seen().await, started_at);

    let interval = delta(SESSION_TOUCH_INTERVAL);
    t.clock.advance(interval - TimeDelta::microseconds(1));
    authenticates(&t, &session).await.unwrap();
    assert_eq!(
        last_seen().await,
        started_at,
        "a use within the touch interval of the last write writes nothing"
    );
    t.clock.advance(TimeDelta::microseconds(1));
    let written_at = t.clock.now();
    authenticates(&t, &session).await.unwrap();
    assert_eq!(
        last_seen().await,
        written_at,
        "a use a touch interval after the last write records it"
    );
    t.clock.advance(interval / 2);
    authenticates(&t, &session).await.unwrap();
    assert_eq!(last_seen().await, written_at);
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let laptop = t.vault.start_session(&user).await.unwrap();
    let phone = t.vault.start_session(&user).await.unwrap();
    assert_ne!(laptop.secret, phone.secret);
    t.vault.end_session(&laptop.secret).await.unwrap();
    assert!(refused(authenticates(&t, &laptop).await));
    assert!(!stored(&t, &laptop).await);
    authenticates(&t, &phone).await.unwrap();
    t.vault
        .end_session(&laptop.secret)
        .await
        .expect("ending a session twice is not an error");
    t.vault
        .end_session(&SessionSecret::presented("never issued"))
        .await
        .expect("ending an unknown session is not an error");
    assert!(refused(
        t.vault
            .authenticate_session(&SessionSecret::presented(""))
            .await
    ));
}

#[tokio::test]
async fn end_own_sessions_ends_every_session_of_the_user_and_no_one_else() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let other = t.user(Some(PlanId::BASIC)).await;
    let mine = [
        t.vault.start_session(&user).await.unwrap(),
        t.vault.start_session(&user).await.unwrap(),
    ];
    let theirs = t.vault.start_session(&other).await.unwrap();
    assert_eq!(t.vault.end_own_sessions(&user).await.unwrap(), 2);
    for session in &mine {
        assert!(refused(authenticates(&t, session).await));
    }
    authenticates(&t, &theirs).await.unwrap();
    assert_eq!(t.vault.end_own_sessions(&user).await.unwrap(), 0);
}

#[tokio::test]
async fn admins_sign_users_out_everywhere() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let bystander = t.user(Some(PlanId::BASIC)).await;
    let session = t.vault.start_session(&user).await.unwrap();
    let token = t.vault.issue_token(&user).await.unwrap();
    t.vault.authenticate_token(token.expose()).await.unwrap();
    let kept_session = t.vault.start_session(&bystander).await.unwrap();
    let kept_token = t.vault.issue_token(&bystander).await.unwrap();

    let refusal = t
        .vault
        .sign_out_user_everywhere(&bystander, user.user.id)
        .await
        .unwrap_err();
    assert!(matches!(refusal, VaultError::AdminOnly), "{refusal:?}");
    authenticates(&t, &session).await.unwrap();

    assert_eq!(
        t.vault
            .sign_out_user_everywhere(&admin, user.user.id)
            .await
            .unwrap(),
        2,
        "one session and one token ended"
    );
    assert!(refused(authenticates(&t, &session).await));
    assert!(
        refused(t.vault.authenticate_token(token.expose()).await),
        "the token is refused at once, though its account was cached"
    );
    authenticates(&t, &kept_session).await.unwrap();
    t.vault
        .authenticate_token(kept_token.expose())
        .await
        .unwrap();

    let unknown = t
        .vault
        .sign_out_user_everywhere(&admin, imagevault_core::UserId::new())
        .await
        .unwrap_err();
    assert!(matches!(unknown, VaultError::NotFound), "{unknown:?}");
}

#[tokio::test]
async fn an_admin_password_change_ends_the_users_sessions() {
    let t = TestVault::new();
    let admin = t.admin().await;
    let user = t.user(Some(PlanId::BASIC)).await;
    let session = t.vault.start_session(&user).await.unwrap();
    let admins_session = t.vault.start_session(&admin).await.unwrap();
    let other_change = UserChanges {
        is_admin: Some(false),
        ..UserChanges::default()
    };
    t.vault
        .update_user(&admin, user.user.id, other_change)
        .await
        .unwrap();
    authenticates(&t, &session)
        .await
        .expect("a change other than the password keeps sessions");
    let reset = UserChanges {
        password: Some(Password::new("a new password").unwrap()),
        ..UserChanges::default()
    };
    t.vault
        .update_user(&admin, user.user.id, reset)
        .await
        .unwrap();
    assert!(refused(authenticates(&t, &session).await));
    assert!(!stored(&t, &session).await);
    authenticates(&t, &admins_session).await.unwrap();
}

fn field_of(error: VaultError) -> &'static str {
    match error {
        VaultError::Validation(error) => error.field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_old_one() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let name = user.user.username.as_str().to_owned();
    let session = t.vault.start_session(&user).await.unwrap();
    let token = t.vault.issue_token(&user).await.unwrap();
    t.vault.authenticate_token(token.expose()).await.unwrap();

    let wrong = t
        .vault
        .change_own_password(&user, "not my password", "a new password", Some("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(field_of(wrong), "old_password");
    let short = t
        .vault
        .change_own_password(&user, PASSWORD, "short", Some("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(field_of(short), "new_password");
    authenticates(&t, &session)
        .await
        .expect("a refused change keeps the sessions");
    t.vault
        .authenticate_password(&name, PASSWORD)
        .await
        .expect("a refused change keeps the password");

    t.vault
        .change_own_password(&user, PASSWORD, "a new password", Some("10.0.0.1"))
        .await
        .unwrap();
    assert!(refused(authenticates(&t, &session).await));
    assert!(
        refused(t.vault.authenticate_token(token.expose()).await),
        "a new password revokes the tokens, cached or not"
    );
    assert!(matches!(
        t.vault.authenticate_password(&name, PASSWORD).await,
        Err(VaultError::InvalidCredentials)
    ));
    t.vault
        .authenticate_password(&name, "a new password")
        .await
        .expect("the new password logs in");
}

#[tokio::test]
async fn wrong_old_passwords_are_counted_by_the_login_throttle() {
    let t = TestVault::new();
    let user = t.user(Some(PlanId::BASIC)).await;
    let client = "192.0.2.7";
    for _ in 0..ThrottleConfig::DEFAULT_FAILURES_BEFORE_DELAY {
        let wrong = t
            .vault
            .change_own_password(&user, "a guess", "a new password", Some(client))
            .await
            .unwrap_err();
        assert_eq!(field_of(wrong), "old_password");
    }
    let throttled = t
        .vault
        .change_own_password(&user, PASSWORD, "a new password", Some(client))
        .await
        .unwrap_err();
    assert!(
        matches!(throttled, VaultError::Throttled { .. }),
        "even the right password waits once the guesses are used up: {throttled:?}"
    );
    assert!(
        matches!(
            t.vault
                .authenticate_password_from(user.user.username.as_str(), PASSWORD, client)
                .await,
            Err(VaultError::Throttled { .. })
        ),
        "the guesses count against logins from that client too"
    );
}

#[tokio::test]
async fn purge_ended_sessions_deletes_idle_and_expired_sessions_only() {
    let t = short_sessions();
    let user = t.user(Some(PlanId::BASIC)).await;
    let idle = t.vault.start_session(&user).await.unwrap();
    t.clock.advance(TimeDelta::minutes(30));
    let used = t.vault.start_session(&user).await.unwrap();
    t.clock.advance(TimeDelta::minutes(31));
    // 61 minutes after the first started: it has been idle longer than the hour.
    assert_eq!(t.vault.purge_ended_sessions().await.unwrap(), 1);
    assert!(!stored(&t, &idle).await);
    assert!(stored(&t, &used).await);

    // Kept in use until its lifetime is over.
    while t.clock.now() < used.expires_at - TimeDelta::minutes(25) {
        t.clock.advance(TimeDelta::minutes(25));
        authenticates(&t, &used).await.unwrap();
    }
    let fresh = t.vault.start_session(&user).await.unwrap();
    assert_eq!(t.vault.purge_ended_sessions().await.unwrap(), 0);
    t.clock.set(used.expires_at);
    assert_eq!(t.vault.purge_ended_sessions().await.unwrap(), 1);
    assert!(!stored(&t, &used).await);
    assert!(stored(&t, &fresh).await);
}
