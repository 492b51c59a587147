//! The comments elf: records comments, counts them per user, and answers
//! the comment-count RPC.

use mycelium::agent::Context;
use mycelium::model::JobState;
use mycelium::storage::JobQuery;

use crate::service::signals::{CountComments, MAILER, Mail, UserComment};

/// This module's tasks belong to the elf `comments`.
pub const ELF: &str = "comments";

/// Records a comment (the job's result is the record) and mails its author.
#[mycelium::task(receives = [UserComment])]
pub async fn record_comment(cx: &Context, comment: UserComment) -> Result<u64, mycelium::agent::Error> {
    let mail = Mail {
        to: format!("user{}@example.org", comment.user_id),
        subject: "Your comment is up".into(),
        body: comment.text,
    };
    cx.send(&MAILER, &mail).await?;
    Ok(comment.user_id)
}

/// Answers how many comments a user has: the recorded comments are the
/// succeeded `record_comment` jobs, so every instance answers alike.
#[mycelium::task(receives = [CountComments])]
pub async fn comments_count(cx: &Context, q: CountComments) -> Result<u64, String> {
    let Some(store) = cx.store() else { return Ok(0) };
    let done = store
        .jobs(&JobQuery {
            elf: Some(ELF.into()),
            task: Some("record_comment".into()),
            states: vec![JobState::Succeeded],
            ..JobQuery::default()
        })
        .map_err(|e| e.to_string())?;
    Ok(done.iter().filter(|j| j.args[0]["user_id"] == q.user_id).count() as u64)
}
