//! The directory's storage, written once and run on SQLite and — when
//! `CIVITAS_TEST_POSTGRES_URL` is set (`scripts/test.sh` does) — on PostgreSQL.
//! Each test uses its own directory system name, so tests share a database safely.

use civitas_directory::store::{
    DirectoryError, DirectoryStore, GroupChanges, NewGroup, NewUser, UserChanges, UserFilter,
};
use civitas_testkit::TestDatabase;
use serde_json::json;

/// The store on `db`, and a system name of this test's own (tests share a database).
async fn open(db: &TestDatabase) -> (DirectoryStore, String) {
    let pool = civitas_store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("{} opens: {e}", db.backend));
    (
        DirectoryStore::new(pool),
        civitas_testkit::unique_name("dir"),
    )
}

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: Some(format!("{name}@example.org")),
        enabled: true,
        ..NewUser::default()
    }
}

async fn a_user_is_created_read_and_its_username_is_unique(db: &TestDatabase) {
    let (store, system) = open(db).await;
    let created = store
        .create_user(
            &system,
            NewUser {
                firstname: Some("Max".into()),
                attributes: Some(json!({"dept": "it", "n": [1, 2]})),
                password_hash: Some("$argon2id$stub".into()),
                ..user("max")
            },
        )
        .await
        .unwrap();
    assert_eq!(created.username, "max");
    assert_eq!(created.firstname.as_deref(), Some("Max"));
    assert_eq!(created.attributes, json!({"dept": "it", "n": [1, 2]}));
    assert!(created.enabled && !created.locked);
    let read = store.user(&system, "max").await.unwrap();
    assert_eq!(read, created);
    assert!(matches!(
        store.create_user(&system, user("max")).await,
        Err(DirectoryError::UserExists(name)) if name == "max"
    ));
    assert!(matches!(
        store.user(&system, "nobody").await,
        Err(DirectoryError::UserNotFound(_))
    ));
}

async fn concurrent_writes_all_succeed_and_one_of_two_identical_creates_conflicts(
    db: &TestDatabase,
) {
    let (store, system) = open(db).await;
    // More writers than the pool has connections, each reading before it writes: on
    // SQLite a deferred transaction failed here with "database is locked".
    let creates = (0..32).map(|n| store.create_user(&system, user(&format!("u{n}"))));
    for created in futures::future::join_all(creates).await {
        created.expect("every concurrent create succeeds");
    }
    let twins = (0..2).map(|_| store.create_user(&system, user("twin")));
    let outcomes = futures::future::join_all(twins).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(DirectoryError::UserExists(name)) if name == "twin")),
        "{outcomes:?}"
    );
}

async fn the_same_username_may_exist_in_two_directory_systems(db: &TestDatabase) {
    let (store, system) = open(db).await;
    let other = format!("{system}-other");
    store.create_user(&system, user("max")).await.unwrap();
    store.create_user(&other, user("max")).await.unwrap();
    assert_ne!(
        store.user(&system, "max").await.unwrap().id,
        store.user(&other, "max").await.unwrap().id
    );
}

async fn an_update_changes_only_the_given_fields_and_a_null_clears_one(db: &TestDatabase) {
    let (store, system) = open(db).await;
    store
        .create_user(
            &system,
            NewUser {
                firstname: Some("Max".into()),
                ..user("max")
            },
        )
        .await
        .unwrap();
    let updated = store
        .update_user(
            &system,
            "max",
            UserChanges {
                email: Some(None),
                lastname: Some(Some("Mustermann".into())),
                enabled: Some(false),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.email, None);
    assert_eq!(updated.firstname.as_deref(), Some("Max"));
    assert_eq!(updated.lastname.as_deref(), Some("Mustermann"));
    assert!(!updated.enabled);
}

async fn a_rename_to_a_taken_username_is_a_conflict(db: &TestDatabase) {
    let (store, system) = open(db).await;
    store.create_user(&system, user("max")).await.unwrap();
    store.create_user(&system, user("erika")).await.unwrap();
    let result = store
        .update_user(
            &system,
            "max",
            UserChanges {
                username: Some("erika".into()),
                ..UserChanges::default()
            },
        )
        .await;
    assert!(matches!(result, Err(DirectoryError::UserExists(n)) if n == "erika"));
    let renamed = store
        .update_user(
            &system,
            "max",
            UserChanges {
                username: Some("maximilian".into()),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.username, "maximilian");
    assert!(store.user(&system, "max").await.is_err());
}

async fn groups_and_memberships_are_kept_from_both_sides(db: &TestDatabase) {
    let (store, system) = open(db).await;
    store.create_user(&system, user("max")).await.unwrap();
    store.create_user(&system, user("erika")).await.unwrap();
    let group = store
        .create_group(
            &system,
            NewGroup {
                name: "admins".into(),
                description: Some("Platform admins".into()),
                members: vec!["max".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(group.members, ["max"]);
    store
        .create_group(
            &system,
            NewGroup {
                name: "ops".into(),
                ..NewGroup::default()
            },
        )
        .await
        .unwrap();
    let erika = store
        .update_user(
            &system,
            "erika",
            UserChanges {
                groups: Some(vec!["ops".into(), "admins".into()]),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(erika.groups, ["admins", "ops"]);
    assert_eq!(
        store.group(&system, "admins").await.unwrap().members,
        ["erika", "max"]
    );

    let after_remove = store.remove_member(&system, "admins", "max").await.unwrap();
    assert_eq!(after_remove.members, ["erika"]);
    let after_add = store.add_member(&system, "admins", "max").await.unwrap();
    assert_eq!(after_add.members, ["erika", "max"]);
    // Adding twice is harmless.
    assert_eq!(
        store
            .add_member(&system, "admins", "max")
            .await
            .unwrap()
            .members,
        ["erika", "max"]
    );

    let renamed = store
        .update_group(
            &system,
            "admins",
            GroupChanges {
                name: Some("administrators".into()),
                description: Some(None),
                members: Some(vec!["max".into()]),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "administrators");
    assert_eq!(renamed.description, None);
    assert_eq!(renamed.members, ["max"]);
    assert_eq!(store.user(&system, "erika").await.unwrap().groups, ["ops"]);

    store.delete_group(&system, "administrators").await.unwrap();
    assert!(store.user(&system, "max").await.unwrap().groups.is_empty());
    store.delete_user(&system, "erika").await.unwrap();
    assert!(
        store
            .group(&system, "ops")
            .await
            .unwrap()
            .members
            .is_empty()
    );
}

async fn unknown_members_and_groups_are_named_and_nothing_is_written(db: &TestDatabase) {
    let (store, system) = open(db).await;
    let result = store
        .create_user(
            &system,
            NewUser {
                groups: vec!["ghosts".into()],
                ..user("max")
            },
        )
        .await;
    assert!(matches!(result, Err(DirectoryError::UnknownGroups(g)) if g == ["ghosts"]));
    assert!(
        store.user(&system, "max").await.is_err(),
        "the user was not created"
    );
    let result = store
        .create_group(
            &system,
            NewGroup {
                name: "g".into(),
                members: vec!["nobody".into()],
                ..NewGroup::default()
            },
        )
        .await;
    assert!(matches!(result, Err(DirectoryError::UnknownUsers(u)) if u == ["nobody"]));
    assert!(
        store.group(&system, "g").await.is_err(),
        "the group was not created"
    );
    store
        .create_group(
            &system,
            NewGroup {
                name: "g".into(),
                ..NewGroup::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_group(
                &system,
                NewGroup {
                    name: "g".into(),
                    ..NewGroup::default()
                }
            )
            .await,
        Err(DirectoryError::GroupExists(_))
    ));
}

async fn lists_filter_search_and_page(db: &TestDatabase) {
    let (store, system) = open(db).await;
    for name in ["anna", "bert", "carla", "dirk_x"] {
        store.create_user(&system, user(name)).await.unwrap();
    }
    store.set_locked(&system, "bert", true).await.unwrap();
    store
        .create_group(
            &system,
            NewGroup {
                name: "team".into(),
                members: vec!["anna".into(), "carla".into()],
                ..NewGroup::default()
            },
        )
        .await
        .unwrap();
    let names = |users: Vec<civitas_directory::store::User>| -> Vec<String> {
        users.into_iter().map(|u| u.username).collect()
    };
    let all = store
        .list_users(&system, &UserFilter::default())
        .await
        .unwrap();
    assert_eq!(all[0].groups, ["team"]);
    assert_eq!(names(all), ["anna", "bert", "carla", "dirk_x"]);
    let page = UserFilter {
        limit: 2,
        offset: 1,
        ..UserFilter::default()
    };
    assert_eq!(
        names(store.list_users(&system, &page).await.unwrap()),
        ["bert", "carla"]
    );
    let locked = UserFilter {
        locked: Some(true),
        ..UserFilter::default()
    };
    assert_eq!(
        names(store.list_users(&system, &locked).await.unwrap()),
        ["bert"]
    );
    let search = UserFilter {
        search: Some("CAR".into()),
        ..UserFilter::default()
    };
    assert_eq!(
        names(store.list_users(&system, &search).await.unwrap()),
        ["carla"]
    );
    // `_` is a literal in a search, not LIKE's wildcard.
    let underscore = UserFilter {
        search: Some("k_".into()),
        ..UserFilter::default()
    };
    assert_eq!(
        names(store.list_users(&system, &underscore).await.unwrap()),
        ["dirk_x"]
    );
    let team = UserFilter {
        group: Some("team".into()),
        ..UserFilter::default()
    };
    assert_eq!(
        names(store.list_users(&system, &team).await.unwrap()),
        ["anna", "carla"]
    );
    let groups = store
        .list_groups(&system, Some("tea"), 10, 0)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].members, ["anna", "carla"]);
}

async fn the_password_hash_is_stored_but_never_part_of_a_user(db: &TestDatabase) {
    let (store, system) = open(db).await;
    store
        .create_user(
            &system,
            NewUser {
                password_hash: Some("$argon2id$v=19$stub".into()),
                ..user("max")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .password_hash(&system, "max")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$v=19$stub")
    );
    let user = store
        .set_password_hash(&system, "max", "$argon2id$v=19$new")
        .await
        .unwrap();
    assert!(!serde_json::to_string(&user).unwrap().contains("argon2"));
    assert_eq!(
        store
            .password_hash(&system, "max")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$v=19$new")
    );
    assert!(matches!(
        store.password_hash(&system, "nobody").await,
        Err(DirectoryError::UserNotFound(_))
    ));
}

async fn deleting_returns_the_deleted_object_and_a_second_delete_is_not_found(db: &TestDatabase) {
    let (store, system) = open(db).await;
    store.create_user(&system, user("max")).await.unwrap();
    let deleted = store.delete_user(&system, "max").await.unwrap();
    assert_eq!(deleted.username, "max");
    assert!(matches!(
        store.delete_user(&system, "max").await,
        Err(DirectoryError::UserNotFound(_))
    ));
    assert!(matches!(
        store.set_locked(&system, "max", true).await,
        Err(DirectoryError::UserNotFound(_))
    ));
}

civitas_testkit::each_backend!(
    a_user_is_created_read_and_its_username_is_unique,
    concurrent_writes_all_succeed_and_one_of_two_identical_creates_conflicts,
    the_same_username_may_exist_in_two_directory_systems,
    an_update_changes_only_the_given_fields_and_a_null_clears_one,
    a_rename_to_a_taken_username_is_a_conflict,
    groups_and_memberships_are_kept_from_both_sides,
    unknown_members_and_groups_are_named_and_nothing_is_written,
    lists_filter_search_and_page,
    the_password_hash_is_stored_but_never_part_of_a_user,
    deleting_returns_the_deleted_object_and_a_second_delete_is_not_found,
);
