//! Checks of the API-token half of [`UserRepo`](crate::UserRepo): owners with their current plan,
//! expiry, revocation, listing and use.

use chrono::{DateTime, Utc};

use crate::repo::Conflict;
use crate::{
    ApiToken, Plan, PlanId, Repo, ThumbnailHeights, TokenHash, TokenOwner, TokenRecord, User,
    UserId,
};

use super::fixtures::{assert_conflict, clean_up, micros, new_plan, new_user, now, store_token};

/// Tokens find their user (with the user's plan) until revoked; `delete_token` is `false`
/// the second time; a token for an unknown user is [`Conflict::MissingReference`]; a
/// deleted user's tokens find nothing.
pub async fn tokens_find_and_revoke(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let basic = repo
        .get_plan(PlanId::BASIC)
        .await
        .expect("get_plan failed")
        .expect("the built-in Basic plan must exist");
    let owner = TokenOwner {
        user: user.clone(),
        plan: Some(basic),
        expires_at: None,
        last_used_at: None,
    };
    let token = || {
        ApiToken::generate()
            .expect("generating a token failed")
            .hash()
    };
    let (first, second, stray) = (token(), token(), token());
    for hash in [first, second] {
        let record = TokenRecord {
            hash,
            user_id: user.id,
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        };
        repo.insert_token(&record)
            .await
            .expect("insert_token failed for an existing user");
    }
    for hash in [first, second] {
        assert_eq!(
            repo.find_token_owner(&hash)
                .await
                .expect("find_token_owner failed"),
            Some(owner.clone()),
            "find_token_owner must find the token's user and their plan"
        );
    }
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "find_token_owner of an unknown hash must be None"
    );

    assert!(
        repo.delete_token(&first)
            .await
            .expect("delete_token failed"),
        "delete_token of a stored token must be true"
    );
    assert!(
        repo.find_token_owner(&first)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "a revoked token must find nobody"
    );
    assert!(
        !repo
            .delete_token(&first)
            .await
            .expect("delete_token failed"),
        "revoking a token twice must be false"
    );
    assert_eq!(
        repo.find_token_owner(&second)
            .await
            .expect("find_token_owner failed"),
        Some(owner),
        "revoking one token must leave the user's other tokens"
    );

    let orphan = TokenRecord {
        hash: stray,
        user_id: UserId::new(),
        created_at: now(),
        expires_at: None,
        last_used_at: None,
    };
    assert_conflict(
        repo.insert_token(&orphan).await,
        Conflict::MissingReference,
        "insert_token for an unknown user",
    );
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "a token refused for an unknown user must not be stored"
    );

    assert!(
        repo.delete_user(user.id).await.expect("delete_user failed"),
        "delete_user must be true"
    );
    assert!(
        repo.find_token_owner(&second)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "the token of a deleted user must find nobody"
    );
}

/// `find_token_owner` returns the user's current plan with the user: a plan change, a
/// change to the plan itself and losing the plan show at once; a user created without a
/// plan has `None`; each token owner gets their own plan.
pub async fn find_token_owner_sees_current_plan(repo: &dyn Repo) {
    let first = new_plan(repo, &[200]).await;
    let second = new_plan(repo, &[300, 600]).await;
    let user = new_user(repo, Some(first.id)).await;
    let bystander = new_user(repo, None).await;
    let store_token = move |user_id: UserId| async move {
        let hash = ApiToken::generate()
            .expect("generating a token failed")
            .hash();
        repo.insert_token(&TokenRecord {
            hash,
            user_id,
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        })
        .await
        .expect("insert_token failed for an existing user");
        hash
    };
    let token = store_token(user.id).await;
    let bystander_token = store_token(bystander.id).await;
    let found = move |hash: TokenHash, rule: &'static str| async move {
        repo.find_token_owner(&hash)
            .await
            .expect("find_token_owner failed")
            .unwrap_or_else(|| panic!("{rule}"))
    };

    let owner = found(token, "find_token_owner must find the token's user").await;
    assert_eq!(owner.user, user, "find_token_owner must return the user");
    assert_eq!(
        owner.plan,
        Some(first.clone()),
        "find_token_owner must return the user's plan"
    );
    let other = found(
        bystander_token,
        "find_token_owner must find the token's user",
    )
    .await;
    assert_eq!(
        other,
        TokenOwner {
            user: bystander.clone(),
            plan: None,
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner's plan must be None for a user created without a plan"
    );

    let moved = User {
        plan_id: Some(second.id),
        ..user.clone()
    };
    assert!(
        repo.update_user(&moved).await.expect("update_user failed"),
        "update_user must be true"
    );
    let owner = found(token, "find_token_owner must find a user who changed plan").await;
    assert_eq!(
        owner,
        TokenOwner {
            user: moved.clone(),
            plan: Some(second.clone()),
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner must reflect a change of the user's plan"
    );

    let regranted = Plan {
        expiring_links: false,
        thumbnail_heights: ThumbnailHeights::new([300, 900]).expect("valid heights"),
        ..second.clone()
    };
    assert!(
        repo.update_plan(&regranted)
            .await
            .expect("update_plan failed"),
        "update_plan must be true"
    );
    let owner = found(
        token,
        "find_token_owner must find a user whose plan changed",
    )
    .await;
    assert_eq!(
        owner.plan,
        Some(regranted),
        "find_token_owner must reflect a change to the plan itself"
    );

    let planless = User {
        plan_id: None,
        ..user.clone()
    };
    assert!(
        repo.update_user(&planless)
            .await
            .expect("update_user failed"),
        "update_user must be true"
    );
    let owner = found(token, "find_token_owner must find a user without a plan").await;
    assert_eq!(
        owner,
        TokenOwner {
            user: planless,
            plan: None,
            expires_at: None,
            last_used_at: None,
        },
        "find_token_owner's plan must be None when the user has none"
    );
    clean_up(repo, &[user.id, bystander.id], &[first.id, second.id]).await;
}

/// A token's expiry round-trips exactly through `insert_token` and `find_token_owner`,
/// and a token without one has `None`. (Refusing an expired token is the caller's rule:
/// the repository returns it with its expiry, in the past or not.)
pub async fn token_expiry_round_trips(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let later = micros(now(), 3_600_000_123);
    let earlier = micros(now(), -1_000_001);
    for expires_at in [Some(later), Some(earlier), None] {
        let hash = store_token(repo, user.id, expires_at)
            .await
            .expect("insert_token failed for an existing user");
        let owner = repo
            .find_token_owner(&hash)
            .await
            .expect("find_token_owner failed")
            .expect("find_token_owner must find a stored token, expired or not");
        assert_eq!(
            owner,
            TokenOwner {
                user: user.clone(),
                plan: None,
                expires_at,
                last_used_at: None,
            },
            "find_token_owner must return the token's expiry as stored"
        );
    }
    clean_up(repo, &[user.id], &[]).await;
}

/// `delete_user_tokens` revokes every token of the user and no one else's, returning how
/// many it revoked (0 the second time, and for an unknown user).
pub async fn delete_user_tokens_revokes_only_theirs(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        theirs.push(
            store_token(repo, user.id, None)
                .await
                .expect("insert_token failed"),
        );
    }
    let other = store_token(repo, bystander.id, None)
        .await
        .expect("insert_token failed");
    assert_eq!(
        repo.delete_user_tokens(user.id)
            .await
            .expect("delete_user_tokens failed"),
        3,
        "delete_user_tokens must count the tokens it revoked"
    );
    for hash in &theirs {
        assert!(
            repo.find_token_owner(hash)
                .await
                .expect("find_token_owner failed")
                .is_none(),
            "a token revoked by delete_user_tokens must find nobody"
        );
    }
    assert!(
        repo.find_token_owner(&other)
            .await
            .expect("find_token_owner failed")
            .is_some(),
        "delete_user_tokens must leave other users' tokens"
    );
    assert_eq!(
        repo.delete_user_tokens(user.id)
            .await
            .expect("delete_user_tokens failed"),
        0,
        "delete_user_tokens of a user without tokens must be 0"
    );
    assert_eq!(
        repo.delete_user_tokens(UserId::new())
            .await
            .expect("delete_user_tokens failed"),
        0,
        "delete_user_tokens of an unknown user must be 0"
    );
    assert!(
        store_token(repo, user.id, None).await.is_ok(),
        "a user whose tokens were revoked may get new ones"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// A token of `user` created at `created_at`, not yet stored.
fn token_value(user: UserId, created_at: DateTime<Utc>) -> TokenRecord {
    TokenRecord {
        hash: ApiToken::generate()
            .expect("generating a token failed")
            .hash(),
        user_id: user,
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

/// `list_user_tokens` lists every stored token of the user and no one else's, newest first
/// (ties by hash, descending), each as stored to the microsecond: expiry (past ones too)
/// and last use included. Revoked tokens are gone from it; an unknown user has none.
pub async fn user_tokens_list_newest_first(repo: &dyn Repo) {
    let user = new_user(repo, None).await;
    let bystander = new_user(repo, None).await;
    let base = now();
    let mut tokens = vec![
        token_value(user.id, micros(base, -2_000_001)),
        TokenRecord {
            expires_at: Some(micros(base, -1_000_003)),
            last_used_at: Some(micros(base, -1_500_007)),
            ..token_value(user.id, micros(base, -3_000_005))
        },
        TokenRecord {
            expires_at: Some(micros(base, 86_400_000_009)),
            ..token_value(user.id, micros(base, -7))
        },
        token_value(user.id, micros(base, -7)),
    ];
    for token in &tokens {
        repo.insert_token(token)
            .await
            .expect("insert_token failed for an existing user");
    }
    repo.insert_token(&token_value(bystander.id, base))
        .await
        .expect("insert_token failed for an existing user");
    tokens
        .sort_by(|a, b| (b.created_at, b.hash.as_bytes()).cmp(&(a.created_at, a.hash.as_bytes())));
    assert_eq!(
        repo.list_user_tokens(user.id)
            .await
            .expect("list_user_tokens failed"),
        tokens,
        "list_user_tokens must list the user's tokens as stored, newest first, ties by hash descending"
    );

    let revoked = tokens.remove(1);
    assert!(
        repo.delete_token(&revoked.hash)
            .await
            .expect("delete_token failed")
    );
    assert_eq!(
        repo.list_user_tokens(user.id)
            .await
            .expect("list_user_tokens failed"),
        tokens,
        "a revoked token must no longer be listed"
    );
    assert!(
        repo.list_user_tokens(UserId::new())
            .await
            .expect("list_user_tokens failed")
            .is_empty(),
        "an unknown user has no tokens"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
}

/// `touch_token` sets a token's `last_used_at`, exactly, and nothing else, as
/// `list_user_tokens` and `find_token_owner` show; it is `false` for a token that is not
/// stored, and then stores nothing.
pub async fn touch_token_records_use(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let expires_at = Some(micros(now(), 3_600_000_001));
    let token = TokenRecord {
        expires_at,
        ..token_value(user.id, now())
    };
    let other = token_value(user.id, micros(token.created_at, -1));
    for record in [&token, &other] {
        repo.insert_token(record)
            .await
            .expect("insert_token failed for an existing user");
    }
    for used_at in [micros(now(), 60_000_003), micros(now(), 120_000_011)] {
        assert!(
            repo.touch_token(&token.hash, used_at)
                .await
                .expect("touch_token failed"),
            "touch_token of a stored token must be true"
        );
        let touched = TokenRecord {
            last_used_at: Some(used_at),
            ..token.clone()
        };
        assert_eq!(
            repo.list_user_tokens(user.id)
                .await
                .expect("list_user_tokens failed"),
            vec![touched, other.clone()],
            "touch_token must set last_used_at of that token only, exactly"
        );
        let owner = repo
            .find_token_owner(&token.hash)
            .await
            .expect("find_token_owner failed")
            .expect("a touched token must still find its user");
        assert_eq!(
            (owner.user.id, owner.expires_at, owner.last_used_at),
            (user.id, expires_at, Some(used_at)),
            "find_token_owner must return the token's last use"
        );
    }
    let stray = ApiToken::generate()
        .expect("generating a token failed")
        .hash();
    assert!(
        !repo
            .touch_token(&stray, now())
            .await
            .expect("touch_token failed"),
        "touch_token of an unknown token must be false"
    );
    assert!(
        repo.find_token_owner(&stray)
            .await
            .expect("find_token_owner failed")
            .is_none(),
        "touch_token of an unknown token must not store it"
    );
    clean_up(repo, &[user.id], &[]).await;
}
