//! Checks of the API-token half of [`UserRepo`](crate::UserRepo): owners with their current plan,
//! expiry, revocation, listing and use.

use crate::repo::Conflict;
use crate::{Plan, PlanId, Repo, ThumbnailHeights, TokenHash, TokenOwner, TokenRecord, UserId};

use super::fixtures::{
    Answer, Collection, Lookup, assert_conflict, clean_up, micros, move_to_plan, new_plan,
    new_user, now, store_token, token_hash, token_value,
};

/// Tokens find their user (with the user's plan) until revoked; `delete_token` is `false`
/// the second time; a token for an unknown user is [`Conflict::MissingReference`]; a
/// deleted user's tokens find nothing.
pub async fn tokens_find_and_revoke(repo: &dyn Repo) {
    let user = new_user(repo, Some(PlanId::BASIC)).await;
    let basic = repo
        .get_plan(PlanId::BASIC)
        .await
        .must_find("the built-in Basic plan must exist");
    let owner = TokenOwner {
        user: user.clone(),
        plan: Some(basic),
        expires_at: None,
        last_used_at: None,
    };
    let mut stored = Vec::new();
    for _ in 0..2 {
        let hash = store_token(repo, user.id, None)
            .await
            .expect("insert_token failed for an existing user");
        stored.push(hash);
    }
    let (first, second, stray) = (stored[0], stored[1], token_hash());
    for hash in [first, second] {
        repo.find_token_owner(&hash).await.must_be(
            Some(owner.clone()),
            "find_token_owner must find the token's user and their plan",
        );
    }
    repo.find_token_owner(&stray)
        .await
        .must_be_none("find_token_owner of an unknown hash must be None");

    repo.delete_token(&first)
        .await
        .must_be(true, "delete_token of a stored token must be true");
    repo.find_token_owner(&first)
        .await
        .must_be_none("a revoked token must find nobody");
    repo.delete_token(&first)
        .await
        .must_be(false, "revoking a token twice must be false");
    repo.find_token_owner(&second).await.must_be(
        Some(owner),
        "revoking one token must leave the user's other tokens",
    );

    let orphan = TokenRecord {
        hash: stray,
        ..token_value(UserId::new(), now())
    };
    assert_conflict(
        repo.insert_token(&orphan).await,
        Conflict::MissingReference,
        "insert_token for an unknown user",
    );
    repo.find_token_owner(&stray)
        .await
        .must_be_none("a token refused for an unknown user must not be stored");

    repo.delete_user(user.id)
        .await
        .must_be(true, "delete_user must be true");
    repo.find_token_owner(&second)
        .await
        .must_be_none("the token of a deleted user must find nobody");
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
        store_token(repo, user_id, None)
            .await
            .expect("insert_token failed for an existing user")
    };
    let token = store_token(user.id).await;
    let bystander_token = store_token(bystander.id).await;
    let found = move |hash: TokenHash, rule: &'static str| async move {
        repo.find_token_owner(&hash).await.must_find(rule)
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

    let moved = move_to_plan(repo, &user, Some(second.id)).await;
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
    repo.update_plan(&regranted)
        .await
        .must_be(true, "update_plan must be true");
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

    let planless = move_to_plan(repo, &user, None).await;
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
            .must_find("find_token_owner must find a stored token, expired or not");
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
    repo.delete_user_tokens(user.id)
        .await
        .must_be(3, "delete_user_tokens must count the tokens it revoked");
    for hash in &theirs {
        repo.find_token_owner(hash)
            .await
            .must_be_none("a token revoked by delete_user_tokens must find nobody");
    }
    repo.find_token_owner(&other)
        .await
        .must_find("delete_user_tokens must leave other users' tokens");
    repo.delete_user_tokens(user.id)
        .await
        .must_be(0, "delete_user_tokens of a user without tokens must be 0");
    repo.delete_user_tokens(UserId::new())
        .await
        .must_be(0, "delete_user_tokens of an unknown user must be 0");
    assert!(
        store_token(repo, user.id, None).await.is_ok(),
        "a user whose tokens were revoked may get new ones"
    );
    clean_up(repo, &[user.id, bystander.id], &[]).await;
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
    let rule = "list_user_tokens must list the user's tokens as stored, newest first, ties by hash descending";
    repo.list_user_tokens(user.id)
        .await
        .must_be(tokens.clone(), rule);

    let revoked = tokens.remove(1);
    assert!(
        repo.delete_token(&revoked.hash)
            .await
            .expect("delete_token failed")
    );
    repo.list_user_tokens(user.id)
        .await
        .must_be(tokens, "a revoked token must no longer be listed");
    repo.list_user_tokens(UserId::new())
        .await
        .must_be_empty("an unknown user has no tokens");
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
        repo.touch_token(&token.hash, used_at)
            .await
            .must_be(true, "touch_token of a stored token must be true");
        let touched = TokenRecord {
            last_used_at: Some(used_at),
            ..token.clone()
        };
        repo.list_user_tokens(user.id).await.must_be(
            vec![touched, other.clone()],
            "touch_token must set last_used_at of that token only, exactly",
        );
        let owner = repo
            .find_token_owner(&token.hash)
            .await
            .must_find("a touched token must still find its user");
        assert_eq!(
            (owner.user.id, owner.expires_at, owner.last_used_at),
            (user.id, expires_at, Some(used_at)),
            "find_token_owner must return the token's last use"
        );
    }
    let stray = token_hash();
    repo.touch_token(&stray, now())
        .await
        .must_be(false, "touch_token of an unknown token must be false");
    repo.find_token_owner(&stray)
        .await
        .must_be_none("touch_token of an unknown token must not store it");
    clean_up(repo, &[user.id], &[]).await;
}
