use crate::config::Settings;
use crate::store::Store;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("the {} database is up to date", store.backend());
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(())
}
