//! The link and account change feeds both backends offer, read and written in pairs: the
//! reading sides a repository hands out, and the writing sides its feeding task owns.

use imagevault_core::repo::{ChangeFeed, ChangeNotifier};

/// The reading sides of a backend's feeds.
#[derive(Debug)]
pub(crate) struct Feeds {
    pub(crate) links: ChangeFeed,
    pub(crate) accounts: ChangeFeed,
}

/// The writing sides of [`Feeds`], owned by the task that feeds them. Dropping them (the
/// task ending for any reason, a runtime shutdown included) disconnects the feeds, so a
/// feed nobody feeds can never look connected.
pub(crate) struct Notifiers {
    pub(crate) links: ChangeNotifier,
    pub(crate) accounts: ChangeNotifier,
}

/// Both feeds, disconnected until their task connects them.
pub(crate) fn disconnected() -> (Notifiers, Feeds) {
    let (links_notifier, links) = ChangeFeed::disconnected();
    let (accounts_notifier, accounts) = ChangeFeed::disconnected();
    (
        Notifiers {
            links: links_notifier,
            accounts: accounts_notifier,
        },
        Feeds { links, accounts },
    )
}

impl Notifiers {
    fn all(&self) -> [&ChangeNotifier; 2] {
        [&self.links, &self.accounts]
    }

    /// Reports both feeds connected, each at a new epoch.
    pub(crate) fn connected(&self) {
        self.all().into_iter().for_each(ChangeNotifier::connected);
    }

    /// Reports both feeds disconnected.
    pub(crate) fn disconnected(&self) {
        self.all()
            .into_iter()
            .for_each(ChangeNotifier::disconnected);
    }

    /// Whether nobody reads either feed any more.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn abandoned(&self) -> bool {
        self.all().into_iter().all(ChangeNotifier::is_abandoned)
    }
}

impl Drop for Notifiers {
    fn drop(&mut self) {
        self.disconnected();
    }
}
