//! Checks of [`SessionRepo`](crate::SessionRepo): round trips, live users only, and
//! ending sessions.

use chrono::{DateTime, Utc};

use crate::repo::Conflict;
use crate::{
    PasswordHash, PlanId, Repo, SessionOwner, SessionRecord, SessionSecret, TokenHash, User,
    UserId, Username,
};

use super::fixtures::{
    Answer, Lookup, assert_conflict, clean_up, far_future, micros, new_plan, new_user, now,
    store_token,
};

/// A session of `user` with fresh random secret, not yet stored.
fn session_value(
    user: UserId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> SessionRecord {
    SessionRecord {
        hash: SessionSecret::generate()
            .expect("generating a session secret failed")
            .hash(),
        user_id: user,
        created_at,
        last_seen_at,
        expires_at,
    }
}

/// Stores a session of `user` seen now and expiring in a day, returning it.
async fn new_session(repo: &dyn Repo, user: UserId) -> SessionRecord {
    let at = now();
    let session = session_value(user, at, at, micros(at, 86_400_000_000));
    repo.insert_session(&session)
        .await
        .expect("insert_session failed for an existing user");
    session
}

/// Whether the session with `hash` is stored.
async fn session_exists(repo: &dyn Repo, hash: &TokenHash) -> bool {
    repo.find_session(hash)
        .await
        .expect("find_session failed")
        .is_some()
}

/// A session round-trips through `insert_session` and `find_session` with its user and
/// the user's current plan (`None` for a user without one), its times exact to the
/// microsecond; `touch_session` sets `last_seen_at` and is `false` for an unknown session;
/// `delete_session` removes it and is `false` the second time.
pub async fn sessions_insert_find_touch_delete(repo: &dyn Repo) {
    let plan = new_plan(repo, &[200, 400]).await;
    let user = new_user(repo, Some(plan.id)).await;
    let planless = new_user(repo, None).await;
    let base = now();
    // Odd microseconds, so that a backend keeping milliseconds (or seconds) fails.
    let session = session_value(
        user.id,
        micros(base, -3_600_000_001),
        micros(base, -7),
        micros(base, 1_209_600_000_003),
    );
    repo.insert_session(&session)
        .await
        .expect("insert_session failed for an existing user");
    let rule = "find_session must return the session as stored (to the microsecond) with its user and plan";
    let owner = SessionOwner {
        session: session.clone(),
        user: user.clone(),
        plan: Some(plan.clone()),
    };
    repo.find_session(&session.hash)
        .await
        .must_be(Some(owner), rule);
    let other = new_session(repo, planless.id).await;
    repo.find_session(&other.hash).await.must_be(
        Some(SessionOwner {
            session: other.clone(),
            user: planless.clone(),
            plan: None,
        }),
        "find_session's plan must be None for a user without a plan",
    );
    let stray = SessionSecret::generate()
        .expect("generating a session secret failed")
        .hash();
    assert!(
        !session_exists(repo, &stray).await,
        "find_session of an unknown hash must be None"
    );

    let seen_at = micros(base, 60_000_001);
    repo.touch_session(&session.hash, seen_at)
        .await
        .must_be(true, "touch_session of a stored session must be true");
    let touched = repo
        .find_session(&session.hash)
        .await
        .must_find("a touched session must still be found");
    assert_eq!(
        touched.session,
        SessionRecord {
            last_seen_at: seen_at,
            ..session.clone()
        },
        "touch_session must set last_seen_at, exactly, and nothing else"
    );
    repo.touch_session(&stray, seen_at)
        .await
        .must_be(false, "touch_session of an unknown session must be false");
    assert!(
        !session_exists(repo, &stray).await,
        "touch_session of an unknown session must not create one"
    );

    repo.delete_session(&session.hash)
        .await
        .must_be(true, "delete_session of a stored session must be true");
    assert!(
        !session_exists(repo, &session.hash).await,
        "a deleted session must not be found"
    );
    repo.delete_session(&session.hash)
        .await
        .must_be(false, "deleting a session twice must be false");
    assert!(
        session_exists(repo, &other.hash).await,
        "deleting one session must leave others"
    );
    clean_up(repo, &[user.id, planless.id], &[plan.id]).await;
}

/// `insert_session` for an unknown user, or for a user being deleted, is
/// [`Conflict::MissingReference`] and stores nothing.
pub async fn session_insert_needs_a_live_user(repo: &dyn Repo) {
    let at = now();
    let orphan = session_value(UserId::new(), at, at, micros(at, 3_600_000_000));
    assert_conflict(
        repo.insert_session(&orphan).await,
        Conflict::MissingReference,
        "insert_session for an unknown user",
    );
    assert!(
        !session_exists(repo, &orphan.hash).await,
        "a session refused for an unknown user must not be stored"
    );

    let user = new_user(repo, Some(PlanId::BASIC)).await;
    assert!(
        repo.begin_user_deletion(user.id, at)
            .await
            .expect("begin_user_deletion failed")
    );
    let late = session_value(user.id, at, at, micros(at, 3_600_000_000));
    assert_conflict(
        repo.insert_session(&late).await,
        Conflict::MissingReference,
        "insert_session for a user being deleted",
    );
    assert!(
        !session_exists(repo, &late.hash).await,
        "a session refused for a user being deleted must not be stored"
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `delete_user_sessions` ends every session of the user and no one else's, returning how
/// many it ended (0 the second time, and for an unknown user); the user may sign in again.
pub async fn delete_user_sessions_ends_only_theirs(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(new_session(repo, user.id).await);
    }
    let other = new_session(repo, bystander.id).await;
    repo.delete_user_sessions(user.id)
        .await
        .must_be(3, "delete_user_sessions must count the sessions it ended");
    for session in &theirs {
        assert!(
            !session_exists(repo, &session.hash).await,
            "a session ended by delete_user_sessions must not be found"
        );
    }
    assert!(
        session_exists(repo, &other.hash).await,
        "delete_user_sessions must leave other users' sessions"
    );
    repo.delete_user_sessions(user.id).await.must_be(
        0,
        "delete_user_sessions of a user without sessions must be 0",
    );
    repo.delete_user_sessions(UserId::new())
        .await
        .must_be(0, "delete_user_sessions of an unknown user must be 0");
    let again = new_session(repo, user.id).await;
    assert!(
        session_exists(repo, &again.hash).await,
        "a user whose sessions were ended may start new ones"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// The idle cut-off of [`delete_ended_sessions_by_idle_and_expiry`]: a fixed time in the
/// year 1494, the same for every run, so that concurrent runs sharing a repository delete
/// the same sessions (each other's ended ones, never each other's kept ones, which a
/// later random cut-off would).
fn session_idle_cut_off() -> DateTime<Utc> {
    DateTime::from_timestamp(-15_000_000_000, 0).expect("a valid far-past time")
}

/// The "now" of [`delete_ended_sessions_by_idle_and_expiry`]: a day after
/// [`session_idle_cut_off`], before the expiry of any real session.
fn session_expiry_cut_off() -> DateTime<Utc> {
    micros(session_idle_cut_off(), 86_400_000_000)
}

/// Ended sessions of a user, for [`delete_ended_sessions_by_idle_and_expiry`] and
/// [`ended_sessions_are_counted`]: last seen just before the idle cut-off, expiring just
/// at and before the expiry cut-off; and sessions just within both, which must stay.
async fn ended_and_kept_sessions(
    repo: &dyn Repo,
    user: UserId,
) -> (Vec<SessionRecord>, Vec<SessionRecord>) {
    let (idle, expiry) = (session_idle_cut_off(), session_expiry_cut_off());
    let created = micros(idle, -86_400_000_000);
    let later = far_future();
    let ended = vec![
        session_value(user, created, micros(idle, -1), later),
        session_value(user, created, now(), expiry),
        session_value(user, created, now(), micros(expiry, -1)),
    ];
    let kept = vec![
        session_value(user, created, idle, later),
        session_value(user, created, now(), micros(expiry, 1)),
    ];
    for session in ended.iter().chain(&kept) {
        repo.insert_session(session)
            .await
            .expect("insert_session failed for an existing user");
    }
    (ended, kept)
}

/// `delete_ended_sessions(idle_before, now)` deletes the sessions last seen before
/// `idle_before` (not those seen at it) and those expiring at or before `now` (not those
/// expiring after it), of every user, and leaves sessions in use.
///
/// How many it deleted is not checked here: concurrent runs sharing the repository delete
/// each other's ended sessions. [`ended_sessions_are_counted`] checks it.
pub async fn delete_ended_sessions_by_idle_and_expiry(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let (ended, kept) = ended_and_kept_sessions(repo, user.id).await;
    let current = new_session(repo, bystander.id).await;
    repo.delete_ended_sessions(session_idle_cut_off(), session_expiry_cut_off())
        .await
        .expect("delete_ended_sessions failed");
    for (index, session) in ended.iter().enumerate() {
        assert!(
            !session_exists(repo, &session.hash).await,
            "delete_ended_sessions must delete ended session {index} (last seen {}, expiring {})",
            session.last_seen_at,
            session.expires_at
        );
    }
    for (index, session) in kept.iter().enumerate() {
        assert!(
            session_exists(repo, &session.hash).await,
            "delete_ended_sessions must keep session {index} (last seen {}, expiring {})",
            session.last_seen_at,
            session.expires_at
        );
    }
    assert!(
        session_exists(repo, &current.hash).await,
        "delete_ended_sessions must keep a session in use"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// `delete_ended_sessions` returns how many sessions it deleted, and 0 when called again.
/// The count is global, so run this check on a repository that no concurrent run of the
/// suite shares; [`run_all`](super::run_all) leaves it out.
pub async fn ended_sessions_are_counted(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let (ended, _kept) = ended_and_kept_sessions(repo, user.id).await;
    let (idle, expiry) = (session_idle_cut_off(), session_expiry_cut_off());
    repo.delete_ended_sessions(idle, expiry).await.must_be(
        u64::try_from(ended.len()).expect("a small count"),
        "delete_ended_sessions must count the sessions it deleted",
    );
    repo.delete_ended_sessions(idle, expiry).await.must_be(
        0,
        "delete_ended_sessions must be 0 when no session has ended",
    );
    clean_up(repo, &[user.id], &[]).await;
}

/// `begin_user_deletion` and `delete_user` delete the user's sessions and no one else's.
pub async fn user_deletion_ends_sessions(repo: &dyn Repo) {
    let marked = new_user(repo, Some(PlanId::BASIC)).await;
    let deleted = new_user(repo, Some(PlanId::BASIC)).await;
    let bystander = new_user(repo, Some(PlanId::BASIC)).await;
    let marked_session = new_session(repo, marked.id).await;
    let deleted_session = new_session(repo, deleted.id).await;
    let other = new_session(repo, bystander.id).await;

    assert!(
        repo.begin_user_deletion(marked.id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    assert!(
        !session_exists(repo, &marked_session.hash).await,
        "begin_user_deletion must delete the user's sessions"
    );
    assert!(
        repo.delete_user(deleted.id)
            .await
            .expect("delete_user failed")
    );
    assert!(
        !session_exists(repo, &deleted_session.hash).await,
        "delete_user must delete the user's sessions"
    );
    assert!(
        session_exists(repo, &other.hash).await,
        "deleting a user must leave other users' sessions"
    );
    let reborn = User {
        username: Username::parse(&crate::testing::unique("user")).expect("a valid username"),
        ..deleted.clone()
    };
    repo.create_user(&reborn)
        .await
        .expect("create_user failed for a new user with a freed id");
    assert!(
        !session_exists(repo, &deleted_session.hash).await,
        "delete_user must delete the user's sessions, not leave them to a later user with the same id"
    );
    clean_up(repo, &[marked.id, reborn.id, bystander.id], &[]).await;
}

/// `update_user_revoking_logins` saves the user like `update_user` and deletes the user's
/// tokens and sessions with it, no one else's; where `update_user` would be `false` (an
/// unknown user, a user being deleted) it is `false` and deletes nothing.
pub async fn a_new_password_revokes_tokens_and_sessions(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let bystander = new_user(repo, Some(PlanId::BASIC)).await;
    let session = new_session(repo, user.id).await;
    let token = store_token(repo, user.id, None)
        .await
        .expect("insert_token failed");
    let other_session = new_session(repo, bystander.id).await;
    let other_token = store_token(repo, bystander.id, None)
        .await
        .expect("insert_token failed");

    let changed = User {
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA"),
        ..user.clone()
    };
    repo.update_user_revoking_logins(&changed).await.must_be(
        true,
        "update_user_revoking_logins of a stored user must be true",
    );
    repo.get_user(user.id).await.must_be(
        Some(changed.clone()),
        "update_user_revoking_logins must save the user",
    );
    assert!(
        !session_exists(repo, &session.hash).await,
        "update_user_revoking_logins must delete the user's sessions"
    );
    repo.find_token_owner(&token)
        .await
        .must_be_none("update_user_revoking_logins must delete the user's tokens");
    assert!(
        session_exists(repo, &other_session.hash).await,
        "update_user_revoking_logins must leave other users' sessions"
    );
    repo.find_token_owner(&other_token)
        .await
        .must_find("update_user_revoking_logins must leave other users' tokens");

    let unknown = User {
        id: UserId::new(),
        username: Username::parse(&crate::testing::unique("user")).expect("a valid username"),
        ..changed.clone()
    };
    repo.update_user_revoking_logins(&unknown).await.must_be(
        false,
        "update_user_revoking_logins of an unknown user must be false",
    );

    // A user being deleted keeps nothing to revoke, but the answer must not give the
    // account a password back.
    let leaving = new_user(repo, Some(PlanId::BASIC)).await;
    assert!(
        repo.begin_user_deletion(leaving.id, now())
            .await
            .expect("begin_user_deletion failed")
    );
    repo.update_user_revoking_logins(&leaving).await.must_be(
        false,
        "update_user_revoking_logins of a user being deleted must be false",
    );
    assert_ne!(
        repo.get_user(leaving.id)
            .await
            .must_find("a user being deleted stays readable")
            .password_hash,
        leaving.password_hash,
        "update_user_revoking_logins must not give a user being deleted a password back"
    );
    clean_up(repo, &[user.id, bystander.id, leaving.id], &[]).await;
}
